"""create_channel end to end: plaintext, TLS with a custom CA, skip-verify, every auth kind."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from flyteidl2.auth import identity_pb2, identity_pb2_grpc
from flyteidl2.workflow import run_service_pb2, run_service_pb2_grpc

from flyte_remote_core._errors import ConfigurationError
from flyte_remote_core._transport._auth import ClientCredentialsToken, CommandToken, DeviceFlowToken, StaticToken
from flyte_remote_core._transport._channel import DEFAULT_GRPC_OPTIONS, channel_config, create_channel
from tests.flyte_remote_core._auth_server import AuthServer, make_certs

SECRET = "very-secret-client-secret-value"


@pytest.fixture
def server() -> Iterator[AuthServer]:
    with AuthServer() as srv:
        yield srv


async def user_info(channel: grpc.aio.Channel) -> identity_pb2.UserInfoResponse:
    return await identity_pb2_grpc.IdentityServiceStub(channel).UserInfo(identity_pb2.UserInfoRequest(), timeout=10)


async def stream_count(channel: grpc.aio.Channel) -> int:
    stub = run_service_pb2_grpc.RunServiceStub(channel)
    return len([m async for m in stub.WatchRunDetails(run_service_pb2.WatchRunDetailsRequest(), timeout=10)])


# -- configuration ----------------------------------------------------------------


def test_missing_ca_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "ca.pem"
    with pytest.raises(ConfigurationError) as info:
        channel_config("flyte.example.com", ca_cert_file_path=str(missing))
    assert str(missing) in str(info.value)
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    with pytest.raises(ConfigurationError, match="no PEM"):
        channel_config("flyte.example.com", ca_cert_file_path=str(not_pem))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "no endpoint"),
        ({"endpoint": "https://h", "insecure": True}, "says https"),
        ({"endpoint": "http://h", "insecure": False}, "says http"),
        ({"endpoint": "h", "insecure": True, "insecure_skip_verify": True}, "TLS options"),
        ({"endpoint": "h", "auth_type": "pkce"}, "unsupported auth_type"),
        ({"endpoint": "h", "client_id": "x"}, None),  # no secret: no auth chosen, fine
        ({"endpoint": "h", "auth_type": "client_credentials", "client_id": "x"}, "client_secret"),
        ({"endpoint": "h", "auth_type": "token"}, "token="),
        ({"endpoint": "h", "clinet_id": "typo"}, "unknown channel option"),
        ({"endpoint": "h", "api_key": "garbage!!"}, "base64"),
    ],
)
def test_config_validation(kwargs: dict, match: str | None) -> None:
    if match is None:
        channel_config(**kwargs)
        return
    with pytest.raises(ConfigurationError, match=match):
        channel_config(**kwargs)


def test_defaults_and_option_merge() -> None:
    cfg = channel_config("flyte.example.com")
    assert not cfg.insecure and cfg.auth is None and cfg.endpoint.target == "flyte.example.com:443"
    options = dict(cfg.grpc_options)
    assert options["grpc.keepalive_time_ms"] == 20_000 and options["grpc.keepalive_timeout_ms"] == 10_000
    assert options["grpc.keepalive_permit_without_calls"] == 1 and options["grpc.http2.max_pings_without_data"] == 0
    cfg = channel_config(
        "http://h:1",
        grpc_options=[("grpc.keepalive_time_ms", 5000), ("grpc.max_receive_message_length", 1)],
        keepalive_timeout_ms=3000,
    )
    options = dict(cfg.grpc_options)
    assert cfg.insecure and options["grpc.keepalive_time_ms"] == 5000 and options["grpc.keepalive_timeout_ms"] == 3000
    assert len(cfg.grpc_options) == len(DEFAULT_GRPC_OPTIONS) + 1  # no duplicate keys


def test_auth_kind_selection_and_no_secret_in_repr() -> None:
    from flyte_remote_core import encode_api_key

    key = encode_api_key("dns:///flyte.example.com:443", "cid", SECRET, "org")
    cfg = channel_config(api_key=key)
    assert cfg.endpoint.target == "flyte.example.com:443" and isinstance(cfg.auth, ClientCredentialsToken)
    assert SECRET not in repr(cfg) and SECRET not in repr(cfg.auth)
    assert isinstance(channel_config("h", token=SECRET).auth, StaticToken)
    assert SECRET not in repr(channel_config("h", token=SECRET))
    assert isinstance(channel_config("h", token_command=["x"]).auth, CommandToken)
    assert isinstance(channel_config("h", auth_type="DeviceFlow").auth, DeviceFlowToken)
    assert isinstance(channel_config("h", client_id="a", client_secret="b").auth, ClientCredentialsToken)
    assert channel_config("h", token="t", auth_type="none").auth is None


# -- plaintext, against the real server -------------------------------------------


async def test_client_credentials_unary_and_stream(server: AuthServer) -> None:
    cid, secret = server.manager.create_client("ci")
    channel = await create_channel(server.endpoint, insecure=True, client_id=cid, client_secret=secret)
    assert (await user_info(channel)).subject == cid
    assert await stream_count(channel) == 2
    assert server.manager.token_requests == 1
    server.manager.revoke_all_tokens()
    assert (await user_info(channel)).subject == cid
    assert server.manager.token_requests == 2
    await channel.close()


async def test_http_endpoint_means_plaintext(server: AuthServer) -> None:
    token, _ = server.manager.issue_token(*server.manager.create_client())
    channel = await create_channel(f"http://{server.endpoint}", token=token)
    assert (await user_info(channel)).subject
    await channel.close()


async def test_api_key(server: AuthServer) -> None:
    key = server.manager.create_api_key(f"dns:///{server.endpoint}", org="acme")
    channel = await create_channel(api_key=key, insecure=True)
    assert (await user_info(channel)).name == "default"
    await channel.close()


async def test_command_token_and_proxy_command(server: AuthServer) -> None:
    token, _ = server.manager.issue_token(*server.manager.create_client())
    channel = await create_channel(
        server.endpoint,
        insecure=True,
        token_command=[sys.executable, "-c", f"print({token!r})"],
        proxy_command=[sys.executable, "-c", "print('proxy-tok')"],
    )
    assert (await user_info(channel)).subject
    assert server.router.seen_headers[-1]["proxy-authorization"] == "Bearer proxy-tok"
    await channel.close()


async def test_no_auth_gets_unauthenticated(server: AuthServer) -> None:
    channel = await create_channel(server.endpoint, insecure=True)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await user_info(channel)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await channel.close()


async def test_device_flow_through_create_channel(server: AuthServer) -> None:
    prompts: list[str] = []
    channel = await create_channel(
        server.endpoint, insecure=True, auth_type="device_flow", device_prompt=prompts.append
    )

    async def approve() -> None:
        while not prompts:  # noqa: ASYNC110 - the prompt is printed by the code under test
            await asyncio.sleep(0.01)
        server.manager.approve_device(prompts[0].rsplit(" ", 1)[-1], subject="alice")

    task = asyncio.create_task(approve())
    assert (await user_info(channel)).subject == "alice"
    await task
    await channel.close()


def test_one_config_many_event_loops(server: AuthServer) -> None:
    """The client opens a channel per loop; the token is fetched once for all of them."""
    cid, secret = server.manager.create_client()
    cfg = channel_config(server.endpoint, insecure=True, client_id=cid, client_secret=secret)

    async def use() -> str:
        channel = await cfg.open()
        try:
            return (await user_info(channel)).subject
        finally:
            await channel.close()

    assert asyncio.run(use()) == cid
    assert asyncio.run(use()) == cid
    assert server.manager.token_requests == 1


# -- TLS ------------------------------------------------------------------------


async def test_tls_with_custom_ca(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    with AuthServer(certfile=certs["cert"], keyfile=certs["key"]) as srv:
        cid, secret = srv.manager.create_client()
        channel = await create_channel(srv.endpoint, ca_cert_file_path=certs["ca"], client_id=cid, client_secret=secret)
        assert (await user_info(channel)).subject == cid  # gRPC and the https token endpoint both trust the CA
        await channel.close()
        # without the CA the server is not trusted
        untrusted = await create_channel(srv.endpoint, token="x")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await user_info(untrusted)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        await untrusted.close()


async def test_tls_skip_verify_with_mismatched_name(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, names=("flyte.internal.test",), ips=())
    with AuthServer(certfile=certs["cert"], keyfile=certs["key"]) as srv:
        cid, secret = srv.manager.create_client()
        channel = await create_channel(srv.endpoint, insecure_skip_verify=True, client_id=cid, client_secret=secret)
        assert (await user_info(channel)).subject == cid
        assert await stream_count(channel) == 2
        await channel.close()
        # the CA alone does not help: the name does not match 127.0.0.1
        strict = await create_channel(srv.endpoint, ca_cert_file_path=certs["ca"], token="x")
        with pytest.raises(grpc.aio.AioRpcError):
            await user_info(strict)
        await strict.close()
