"""The CLI (``flyte-devserver`` and ``python -m flyte_remote_core.devserver``) as a real
process: options, /healthz, and persistence across a process killed outright."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.workflow import run_service_pb2 as rs

from ..helpers import P, Stubs, action_id, create_run, outputs, wait_done, wait_phase

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[3]


def _start_cli(data_dir: Path, *extra: str, module: bool = False) -> tuple[subprocess.Popen, str]:
    cmd = (
        [sys.executable, "-m", "flyte_remote_core.devserver"]
        if module
        else [str(Path(sys.executable).parent / "flyte-devserver")]
    )
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


async def test_restart_after_kill_keeps_state_and_fails_interrupted_runs_without_retries(tmp_path):
    # A run that was running resumes within its retry budget (tests/devserver/engine/test_restart_resume.py);
    # `hang` has no retries, so the restart fails it, saying so.
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
            assert await outputs(s, "persist-ok") == {"o0": 7}
            det = (
                await s.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id("persist-hang")))
            ).details
            assert det.status.phase == P.ACTION_PHASE_FAILED
            assert det.error_info.code == "DevserverRestarted" and "restarted" in det.error_info.message
            assert "no retries" in det.error_info.message and det.status.attempts == 1
            from flyteidl2.workflow.run_definition_pb2 import ErrorInfo

            assert det.error_info.kind == ErrorInfo.KIND_SYSTEM
            assert (await wait_done(s, "persist-hang")).status.phase == P.ACTION_PHASE_FAILED
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert "stopped" in out


def test_cli_healthz_and_help(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "flyte_remote_core.devserver", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--tasks",
        "--project",
        "--auth",
        "--tls-cert",
        "--duplicate-run-names",
        "--max-concurrent-streams",
    ):
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
