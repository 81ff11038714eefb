"""Admin API (in process and over gRPC/Connect), stream limits, the pytest fixture,
the CLI, TLS, and persistence across a really killed process."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.workflow import run_service_pb2 as rs

from flyte_remote_core.devserver._admin_pb import admin_pb2

from .helpers import DOMAIN, PROJECT, P, Stubs, action_id, create_run, wait_done, wait_phase

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


async def test_fail_next_and_counters(stubs, server):
    server.admin.reset_counters()
    server.admin.fail_next("GetProject", grpc.StatusCode.UNAVAILABLE, count=2)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))
    assert server.admin.call_count("GetProject") == 3
    assert server.admin.counters()["flyteidl2.project.ProjectService/GetProject"] == 3
    # Over the wire.
    await stubs.admin.FailNext(admin_pb2.FailNextRequest(method="flyteidl2.project.ProjectService/GetProject", code=5))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    counters = (await stubs.admin.GetCounters(admin_pb2.GetCountersRequest())).counters
    assert counters["flyteidl2.project.ProjectService/GetProject"] == 4
    assert not any("AdminService" in k for k in counters)
    await stubs.admin.ResetCounters(admin_pb2.ResetCountersRequest())
    assert server.admin.counters() == {}


async def test_drop_streams_ends_them_with_unavailable(stubs, server):
    server.admin.hold("drop-1")
    await create_run(stubs, "sample_tasks.noop", "drop-1")
    await wait_phase(stubs, "drop-1", P.ACTION_PHASE_RUNNING)
    call = stubs.run.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id("drop-1")))
    await asyncio.wait_for(call.read(), 10)
    resp = await stubs.admin.DropStreams(admin_pb2.DropStreamsRequest())
    assert resp.dropped >= 1
    with pytest.raises(grpc.aio.AioRpcError) as e:
        while True:
            msg = await asyncio.wait_for(call.read(), 10)
            assert msg is not grpc.aio.EOF, "stream ended without an error"
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    # Reconnecting works; releasing over the wire finishes the run.
    await stubs.admin.ReleaseRuns(admin_pb2.ReleaseRunsRequest(run_names=["drop-1"]))
    assert (await wait_done(stubs, "drop-1")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_hold_all_new_runs_over_the_wire(stubs, server):
    await stubs.admin.HoldRuns(admin_pb2.HoldRunsRequest(all_new_runs=True))
    await create_run(stubs, "sample_tasks.noop", "hold-all-1")
    await wait_phase(stubs, "hold-all-1", P.ACTION_PHASE_RUNNING)
    status = await stubs.admin.GetStatus(admin_pb2.GetStatusRequest())
    assert status.hold_all_new_runs and "hold-all-1" in status.held_runs
    released = await stubs.admin.ReleaseRuns(admin_pb2.ReleaseRunsRequest(all=True))
    assert released.released >= 1
    assert (await wait_done(stubs, "hold-all-1")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_many_streams_on_one_channel_do_not_kill_the_connection(tmp_path):
    """300 concurrent watches over one connection limited to 250 streams: none fails."""
    from flyte_remote_core.devserver import DevServer

    with DevServer(data_dir=tmp_path, max_concurrent_streams=250) as srv:
        from flyteidl2.workflow import run_service_pb2_grpc

        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            stub = run_service_pb2_grpc.RunServiceStub(ch)
            req = rs.WatchRunsRequest(project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN))
            calls = [stub.WatchRuns(req) for _ in range(300)]
            reads = [asyncio.ensure_future(c.read()) for c in calls]
            deadline = time.time() + 30
            while sum(r.done() for r in reads) < 250 and time.time() < deadline:
                await asyncio.sleep(0.05)
            done = [i for i, r in enumerate(reads) if r.done()]
            assert len(done) == 250  # the per-connection limit, nothing failed
            assert all(reads[i].exception() is None for i in done)
            for i in done[:100]:  # end 100 streams: the 50 waiting ones get their turn
                calls[i].cancel()
            await asyncio.wait_for(asyncio.gather(*reads), 30)
            for c in calls:
                c.cancel()
            # The connection is still fine.
            from flyteidl2.project import project_service_pb2_grpc

            await project_service_pb2_grpc.ProjectServiceStub(ch).GetProject(pj.GetProjectRequest(id=PROJECT))
    with pytest.raises(ValueError):
        DevServer(data_dir=tmp_path, max_concurrent_streams=1000)


def test_pytest_fixture_startup(pytester_devserver_ok=None):
    """The plugin's fixture is registered (entry point pytest11)."""
    from flyte_remote_core.devserver import pytest_plugin

    assert hasattr(pytest_plugin, "flyte_devserver")


def test_fixture_yields_endpoint_admin_and_server(flyte_devserver):
    assert flyte_devserver.endpoint == flyte_devserver.server.endpoint
    assert flyte_devserver.server.startup_seconds < 2.0
    print(f"\nfixture devserver start-up: {flyte_devserver.server.startup_seconds:.3f} s")
    assert flyte_devserver.admin.counters() == {}


def test_startup_time_empty_server(tmp_path):
    from flyte_remote_core.devserver import DevServer

    times = []
    for i in range(3):
        with DevServer(data_dir=tmp_path / str(i)) as srv:
            times.append(srv.startup_seconds)
    print(f"\ndevserver start-up (no tasks): {', '.join(f'{t:.3f}' for t in times)} s")
    assert min(times) <= 0.5


def _start_cli(data_dir: Path, *extra: str, module: bool = False) -> tuple[subprocess.Popen, str]:
    cmd = ([sys.executable, "-m", "flyte_remote_core.devserver"] if module
           else [str(Path(sys.executable).parent / "flyte-devserver")])
    cmd += ["--port", "0", "--data-dir", str(data_dir), "--tasks", "tests.devserver.sample_tasks", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    endpoint = None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"endpoint: (\S+)", line)
        if m:
            endpoint = m.group(1)
        if "ready on" in line:
            return proc, endpoint
    proc.kill()
    raise AssertionError(f"CLI did not become ready: {proc.stdout.read() if proc.stdout else ''}")


async def test_restart_after_kill_keeps_state_and_fails_interrupted_runs(tmp_path):
    proc, endpoint = _start_cli(tmp_path)
    try:
        async with grpc.aio.insecure_channel(endpoint) as ch:
            s = Stubs(ch)
            await create_run(s, "sample_tasks.add", "persist-ok", x=3, y=4)
            assert (await wait_done(s, "persist-ok")).status.phase == P.ACTION_PHASE_SUCCEEDED
            await create_run(s, "sample_tasks.hang", "persist-hang")
            await wait_phase(s, "persist-hang", P.ACTION_PHASE_RUNNING)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc, endpoint = _start_cli(tmp_path, module=True)  # python -m works too
    try:
        async with grpc.aio.insecure_channel(endpoint) as ch:
            s = Stubs(ch)
            from .helpers import outputs

            assert await outputs(s, "persist-ok") == {"o0": 7}
            det = (await s.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id("persist-hang")))).details
            assert det.status.phase == P.ACTION_PHASE_FAILED
            assert det.error_info.code == "DevserverRestarted" and "restarted" in det.error_info.message
            from flyteidl2.workflow.run_definition_pb2 import ErrorInfo

            assert det.error_info.kind == ErrorInfo.KIND_SYSTEM
            assert (await wait_done(s, "persist-hang")).status.phase == P.ACTION_PHASE_FAILED
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert "stopped" in out


def test_cli_healthz_and_help(tmp_path):
    out = subprocess.run([sys.executable, "-m", "flyte_remote_core.devserver", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30).stdout
    for flag in ("--host", "--port", "--data-dir", "--tasks", "--project", "--auth", "--tls-cert",
                 "--duplicate-run-names", "--max-concurrent-streams"):
        assert flag in out
    proc, endpoint = _start_cli(tmp_path, "--project", "myproj")
    try:
        assert httpx.get(f"http://{endpoint}/healthz").text.strip() == "ok"
        ch = grpc.insecure_channel(endpoint)
        from flyteidl2.project import project_service_pb2_grpc

        got = project_service_pb2_grpc.ProjectServiceStub(ch).GetProject(pj.GetProjectRequest(id="myproj"), timeout=10)
        assert got.project.id == "myproj"
        ch.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def _self_signed(tmp_path: Path) -> tuple[Path, Path] | None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"], capture_output=True)
    return (cert, key) if r.returncode == 0 else None


async def test_tls(tmp_path):
    pair = _self_signed(tmp_path)
    if pair is None:
        pytest.skip("openssl not available")
    from flyte_remote_core.devserver import DevServer

    with DevServer(data_dir=tmp_path / "d", tls_cert=pair[0], tls_key=pair[1]) as srv:
        assert srv.url.startswith("https://")
        creds = grpc.ssl_channel_credentials(pair[0].read_bytes())
        async with grpc.aio.secure_channel(srv.endpoint, creds) as ch:
            from flyteidl2.project import project_service_pb2_grpc

            got = await project_service_pb2_grpc.ProjectServiceStub(ch).GetProject(pj.GetProjectRequest(id=PROJECT))
            assert got.project.id == PROJECT


async def test_auth_requires_bearer_token(tmp_path):
    from flyte_remote_core.devserver import DevServer

    with DevServer(data_dir=tmp_path, auth=True) as srv:
        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            s = Stubs(ch)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await s.project.GetProject(pj.GetProjectRequest(id=PROJECT))
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            from flyteidl2.auth import auth_service_pb2

            md = await s.auth.GetOAuth2Metadata(auth_service_pb2.GetOAuth2MetadataRequest())
            client_id, secret = srv.auth_manager.create_client("t")
            r = httpx.post(md.token_endpoint, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            got = await s.project.GetProject(pj.GetProjectRequest(id=PROJECT),
                                             metadata=(("authorization", f"Bearer {token}"),))
            assert got.project.id == PROJECT
