"""Devserver auth: the admin API behind the bearer check, and lifetimes of device-flow
requests and refresh tokens (on an injected clock, no sleeps)."""

from __future__ import annotations

import grpc
import pytest

from flyte_remote_core.devserver.admin._pb import admin_pb2
from flyte_remote_core.devserver.auth.device import EXPIRED_DEVICE_GRACE_S
from flyte_remote_core.devserver.auth.grants import DEVICE_GRANT
from flyte_remote_core.devserver.auth.manager import AuthManager

from ..helpers import Stubs

pytestmark = pytest.mark.timeout(60)


async def test_admin_api_needs_a_bearer_token_with_auth(tmp_path):
    from flyte_remote_core.devserver import DevServer

    with DevServer(data_dir=tmp_path, auth=True) as srv:
        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            admin = Stubs(ch).admin
            calls = [
                lambda md: admin.GetStatus(admin_pb2.GetStatusRequest(), metadata=md),
                lambda md: admin.HoldRuns(admin_pb2.HoldRunsRequest(all_new_runs=True), metadata=md),
                lambda md: admin.FailNext(admin_pb2.FailNextRequest(method="CreateRun", code=14, count=1), metadata=md),
                lambda md: admin.DropStreams(admin_pb2.DropStreamsRequest(), metadata=md),
            ]
            for call in calls:
                for md in ((), (("authorization", "Bearer not-a-token"),)):
                    with pytest.raises(grpc.aio.AioRpcError) as e:
                        await call(md)
                    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert srv.admin.status()["hold_all_new_runs"] is False  # nothing was applied
            assert srv.admin.counters().get("flyteidl2.workflow.RunService/CreateRun", 0) == 0
            client_id, secret = srv.auth_manager.create_client("admin-test")
            token, _ = srv.auth_manager.issue_token(client_id, secret)
            md = (("authorization", f"Bearer {token}"),)
            status = await admin.GetStatus(admin_pb2.GetStatusRequest(), metadata=md)
            assert status.endpoint == srv.endpoint and not status.hold_all_new_runs
            await admin.HoldRuns(admin_pb2.HoldRunsRequest(all_new_runs=True), metadata=md)
            assert srv.admin.status()["hold_all_new_runs"] is True
            # The in-process handle does not go over the wire: no token needed.
            assert srv.admin.release() == 0
            assert (await admin.GetStatus(admin_pb2.GetStatusRequest(), metadata=md)).hold_all_new_runs is False


async def test_admin_api_without_auth_needs_no_token(stubs):
    status = await stubs.admin.GetStatus(admin_pb2.GetStatusRequest())
    assert status.endpoint


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _device_token(m: AuthManager, clock: Clock, client: str = "cli") -> dict:
    start = m.device_flow.start(client)
    assert m.approve_device(start["user_code"])
    status, body = m.token_endpoint.grant(DEVICE_GRANT, {"device_code": start["device_code"]}, client, None)
    assert status == 200, body
    return body


def _refresh(m: AuthManager, refresh_token: str) -> tuple[int, dict]:
    return m.token_endpoint.grant("refresh_token", {"refresh_token": refresh_token}, None, None)


def test_refresh_tokens_expire_after_their_lifetime():
    clock = Clock()
    m = AuthManager(base_url="http://x", token_lifetime=50.0, refresh_token_lifetime=100.0, clock=clock)
    body = _device_token(m, clock)
    clock.now += 99
    status, fresh = _refresh(m, body["refresh_token"])
    assert status == 200 and fresh["refresh_token"] != body["refresh_token"]  # rotated, new lifetime
    assert _refresh(m, body["refresh_token"])[0] == 400  # a used refresh token is gone
    clock.now += 100
    status, err = _refresh(m, fresh["refresh_token"])
    assert status == 400 and err["error"] == "invalid_grant"
    # Expired refresh tokens are forgotten, not kept forever.
    _device_token(m, clock)
    clock.now += 101
    m.purge_expired()
    assert m.tokens.refresh == {} and m.tokens.access == {}


def test_refresh_token_lifetime_defaults_to_30_days():
    clock = Clock()
    m = AuthManager(base_url="http://x", clock=clock)
    body = _device_token(m, clock)
    clock.now += 29 * 86400
    assert _refresh(m, body["refresh_token"])[0] == 200
    body = _device_token(m, clock)
    clock.now += 30 * 86400 + 1
    assert _refresh(m, body["refresh_token"])[0] == 400


def test_device_requests_expire_and_are_dropped():
    clock = Clock()
    m = AuthManager(base_url="http://x", device_code_lifetime=60.0, clock=clock)
    unused = m.device_flow.start("cli")
    polled = m.device_flow.start("cli")
    assert set(m.pending_user_codes()) == {unused["user_code"], polled["user_code"]}
    clock.now += 61
    # Expired: no longer pending, cannot be approved or denied, polling says expired_token.
    assert m.pending_user_codes() == []
    assert not m.approve_device(unused["user_code"])
    assert not m.deny_device(unused["user_code"])
    status, body = m.token_endpoint.grant(DEVICE_GRANT, {"device_code": polled["device_code"]}, "cli", None)
    assert (status, body["error"]) == (400, "expired_token")
    assert len(m.device_flow.requests) == 1  # the polled one is gone at once
    # The never-polled request is dropped a little later, without anyone polling it.
    clock.now += EXPIRED_DEVICE_GRACE_S
    m.device_flow.start("cli")
    assert len(m.device_flow.requests) == 1
    status, body = m.token_endpoint.grant(DEVICE_GRANT, {"device_code": unused["device_code"]}, "cli", None)
    assert (status, body["error"]) == (400, "invalid_grant")


def test_used_and_denied_device_requests_are_dropped():
    clock = Clock()
    m = AuthManager(base_url="http://x", clock=clock)
    _device_token(m, clock)
    assert m.device_flow.requests == {}
    denied = m.device_flow.start("cli")
    assert m.deny_device(denied["user_code"])
    assert not m.approve_device(denied["user_code"])  # a denied sign-in cannot be approved afterwards
    status, body = m.token_endpoint.grant(DEVICE_GRANT, {"device_code": denied["device_code"]}, "cli", None)
    assert (status, body["error"]) == (400, "access_denied")
    assert m.device_flow.requests == {}


def test_expired_access_tokens_are_purged_on_issue():
    clock = Clock()
    m = AuthManager(base_url="http://x", token_lifetime=10.0, clock=clock)
    cid, secret = m.create_client("c")
    old, _ = m.issue_token(cid, secret)
    clock.now += 11
    assert not m.check(f"Bearer {old}")
    for _ in range(3):
        m.issue_token(cid, secret)
    clock.now += 11
    m.issue_token(cid, secret)
    assert len(m.tokens.access) == 1
