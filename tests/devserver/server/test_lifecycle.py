"""DevServer lifecycle: start-up time, stop, the pytest fixture, stream limits, TLS, auth."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.workflow import run_service_pb2 as rs

from ..helpers import DOMAIN, PROJECT, Stubs

pytestmark = pytest.mark.timeout(90)


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
            while sum(r.done() for r in reads) < 250 and time.time() < deadline:  # noqa: ASYNC110 - counts many
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


def _self_signed(tmp_path: Path) -> tuple[Path, Path] | None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        capture_output=True,
    )
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
            r = httpx.post(  # noqa: ASYNC210 - one token request from the test, not the code under test
                md.token_endpoint, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            got = await s.project.GetProject(
                pj.GetProjectRequest(id=PROJECT), metadata=(("authorization", f"Bearer {token}"),)
            )
            assert got.project.id == PROJECT


async def test_stop_is_idempotent(tmp_path):
    from flyte_remote_core.devserver import DevServer

    from ..conftest import SAMPLE_TASKS

    srv = DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path).start()
    srv.stop()
    srv.stop()  # idempotent
    assert not srv.running
    assert os.path.exists(tmp_path / "devserver.db")
