"""OAuth2 flows against a real server: devserver AuthManager under hypercorn."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import grpc
import httpx
import pytest
from flyteidl2.auth import identity_pb2, identity_pb2_grpc

from flyte_remote_core._errors import AuthenticationError
from flyte_remote_core._transport._auth import (
    ClientCredentialsToken,
    DeviceFlowToken,
    StaticToken,
    auth_interceptors,
    discover_oauth_metadata,
)
from flyte_remote_core.devserver.auth.grants import InvalidClientError
from flyte_remote_core.devserver.auth.manager import AuthManager
from tests.flyte_remote_core._auth_server import AuthServer


@pytest.fixture
def server() -> Iterator[AuthServer]:
    with AuthServer() as srv:
        yield srv


def plain_factory(srv: AuthServer):
    async def make() -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(srv.endpoint)

    return make


async def user_info(channel: grpc.aio.Channel) -> identity_pb2.UserInfoResponse:
    return await identity_pb2_grpc.IdentityServiceStub(channel).UserInfo(identity_pb2.UserInfoRequest(), timeout=10)


# -- the devserver side on its own ----------------------------------------------


def test_manager_tokens_and_checks() -> None:
    m = AuthManager(base_url="http://x")
    cid, secret = m.create_client("ci")
    token, expires_in = m.issue_token(cid, secret)
    assert expires_in == 3600
    assert m.check(f"Bearer {token}") and m.check(f"bearer {token}")
    assert not m.check(token) and not m.check(None) and not m.check("Bearer nope") and not m.check("Basic abc")
    assert m.subject_for(token) == cid
    with pytest.raises(InvalidClientError):
        m.issue_token(cid, "wrong")
    m.revoke_all_tokens()
    assert not m.check(f"Bearer {token}")
    # secrets are stored as digests only
    assert secret not in repr(m.state())


def test_manager_persistence_callback_restores_clients() -> None:
    saved: list[dict] = []
    m = AuthManager(base_url="http://x", on_change=saved.append)
    cid, secret = m.create_client()
    restored = AuthManager(base_url="http://x", state=saved[-1])
    assert restored.issue_token(cid, secret)[0]


def test_manager_short_lifetime_expires() -> None:
    m = AuthManager(base_url="http://x", token_lifetime=0.01)
    cid, secret = m.create_client()
    token, _ = m.issue_token(cid, secret)
    import time

    time.sleep(0.05)
    assert not m.check(f"Bearer {token}")


async def test_token_endpoint_http_errors(server: AuthServer) -> None:
    cid, secret = server.manager.create_client()
    url = f"{server.base_url}/oauth2/token"
    async with httpx.AsyncClient() as http:
        ok = await http.post(url, data={"grant_type": "client_credentials"}, auth=(cid, secret))
        assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
        post_auth = await http.post(
            url, data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
        )
        assert post_auth.status_code == 200
        bad = await http.post(url, data={"grant_type": "client_credentials"}, auth=(cid, "wrong"))
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
        assert "www-authenticate" in bad.headers
        unsupported = await http.post(url, data={"grant_type": "password"}, auth=(cid, secret))
        assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
        garbage = await http.post(
            url, data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic %%%"}
        )
        assert garbage.status_code == 401
        get = await http.get(url)
        assert get.status_code == 405


# -- client side against the server ---------------------------------------------


async def test_discovery(server: AuthServer) -> None:
    from flyte_remote_core._transport import Rpc

    async def plain_channel() -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(server.endpoint)

    rpc = Rpc(plain_channel, key="discovery-test")
    meta = await discover_oauth_metadata(rpc)
    await rpc.close()
    assert meta.token_endpoint == f"{server.base_url}/oauth2/token"
    assert meta.device_authorization_endpoint == f"{server.base_url}/oauth2/device/code"
    assert meta.header_name == "authorization" and meta.scopes == ("all",) and meta.public_client_id == "flyte-cli"


async def test_client_credentials_caches_and_retries_once(server: AuthServer) -> None:
    cid, secret = server.manager.create_client("bot")
    source = ClientCredentialsToken(client_id=cid, client_secret=secret, channel_factory=plain_factory(server))
    channel = grpc.aio.insecure_channel(server.endpoint, interceptors=auth_interceptors(source))
    for _ in range(3):
        assert (await user_info(channel)).subject == cid
    assert server.manager.token_requests == 1
    server.manager.revoke_all_tokens()
    assert (await user_info(channel)).name == "bot"  # refreshed once, retried
    assert server.manager.token_requests == 2
    await channel.close()


async def test_refresh_on_expiry(server: AuthServer) -> None:
    server.manager.token_lifetime = 1.0
    cid, secret = server.manager.create_client()
    source = ClientCredentialsToken(client_id=cid, client_secret=secret, channel_factory=plain_factory(server))
    channel = grpc.aio.insecure_channel(server.endpoint, interceptors=auth_interceptors(source))
    await user_info(channel)
    await user_info(channel)
    assert server.manager.token_requests == 1
    await asyncio.sleep(1.0)
    await user_info(channel)
    assert server.manager.token_requests == 2
    await channel.close()


async def test_retry_only_once_then_unauthenticated(server: AuthServer) -> None:
    channel = grpc.aio.insecure_channel(
        server.endpoint, interceptors=auth_interceptors(StaticToken("not-a-valid-token"))
    )
    before = sum(1 for h in server.router.seen_headers if "authorization" in h)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await user_info(channel)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert sum(1 for h in server.router.seen_headers if "authorization" in h) - before == 2
    await channel.close()


async def test_wrong_secret_error_is_clean(server: AuthServer) -> None:
    cid, _ = server.manager.create_client()
    source = ClientCredentialsToken(
        client_id=cid, client_secret="WRONG-secret-123", channel_factory=plain_factory(server)
    )
    with pytest.raises(AuthenticationError) as info:
        await source.token()
    assert "invalid_client" in str(info.value) and "WRONG-secret-123" not in str(info.value)
    # through an interceptor the same error reaches the caller
    channel = grpc.aio.insecure_channel(server.endpoint, interceptors=auth_interceptors(source))
    with pytest.raises(AuthenticationError):
        await user_info(channel)
    await channel.close()


async def test_reuses_given_http_session(server: AuthServer) -> None:
    cid, secret = server.manager.create_client()
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
        source = ClientCredentialsToken(
            client_id=cid, client_secret=secret, channel_factory=plain_factory(server), http_session=http
        )
        await source.token()
    assert seen == [f"{server.base_url}/oauth2/token"]


async def _approve_when_prompted(server: AuthServer, prompts: list[str], *, deny: bool = False) -> None:
    while not prompts:  # noqa: ASYNC110 - the prompt is printed by the code under test
        await asyncio.sleep(0.01)
    code = prompts[-1].rsplit(" ", 1)[-1]
    assert code in server.manager.pending_user_codes()
    (server.manager.deny_device if deny else server.manager.approve_device)(code)


async def test_device_flow(server: AuthServer) -> None:
    prompts: list[str] = []
    source = DeviceFlowToken(channel_factory=plain_factory(server), prompt=prompts.append)
    channel = grpc.aio.insecure_channel(server.endpoint, interceptors=auth_interceptors(source))
    approve = asyncio.create_task(_approve_when_prompted(server, prompts))
    assert (await user_info(channel)).subject == "dev-user"
    await approve
    assert "/oauth2/device" in prompts[0] and source.polls >= 1
    # a forced refresh uses the refresh token: nobody is asked again
    await source.token(refresh=True)
    assert len(prompts) == 1
    await channel.close()


async def test_device_flow_slow_down_and_denied(server: AuthServer) -> None:
    prompts: list[str] = []
    source = DeviceFlowToken(channel_factory=plain_factory(server), prompt=prompts.append, slow_down_increment=0.15)

    async def make_server_stricter_then_approve() -> None:
        while not prompts:  # noqa: ASYNC110 - the prompt is printed by the code under test
            await asyncio.sleep(0.005)
        for request in server.manager.device_flow.requests.values():
            request.interval = 0.3  # the client polls every 0.05 s: too fast
        await asyncio.sleep(0.5)
        await _approve_when_prompted(server, prompts)

    task = asyncio.create_task(make_server_stricter_then_approve())
    assert await source.token()
    await task
    assert source.slow_downs >= 1

    denied: list[str] = []
    source = DeviceFlowToken(channel_factory=plain_factory(server), prompt=denied.append)
    task = asyncio.create_task(_approve_when_prompted(server, denied, deny=True))
    with pytest.raises(AuthenticationError, match="denied"):
        await source.token()
    await task


async def test_device_flow_expires(server: AuthServer) -> None:
    server.manager.device_code_lifetime = 0.3
    source = DeviceFlowToken(channel_factory=plain_factory(server), prompt=lambda _: None)
    with pytest.raises(AuthenticationError, match="expired"):
        await source.token()


def test_basic_auth_encodes_special_characters() -> None:
    from flyte_remote_core._transport._auth import basic_auth_header
    from flyte_remote_core.devserver.auth.oauth import client_auth as _client_auth

    header = basic_auth_header("id:with", "p@ss word+/=")
    assert base64.b64decode(header[6:]).decode().count(":") == 1
    assert _client_auth(header, {}) == ("id:with", "p@ss word+/=")
