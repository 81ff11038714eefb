"""A real termination: the Dagster run is interrupted in another process; the remote run ends ABORTED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import create_runs, wait_until

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def _start(endpoint: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.flyte_dagster.terminate_target", endpoint],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_terminating_the_dagster_run_aborts_the_remote_run(flyte_devserver):
    client = flyte_devserver.client
    proc = _start(flyte_devserver.endpoint)
    try:
        wait_until(lambda: create_runs(flyte_devserver.admin) == 1 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.stdout.read()
        run = wait_until(lambda: next((r for r in client.list_runs() if r.phase.value == "RUNNING"), None), timeout=30)
        # Dagster turns SIGINT (and SIGTERM in run workers) into DagsterExecutionInterruptedError in the step.
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"Aborted Flyte run {run.name}" in output, output[-3000:]
    assert "DAGSTER RUN STATUS DagsterRunStatus.FAILURE" in output or "CANCELED" in output, output[-3000:]
    assert client.get_run(run.name).phase.value == "ABORTED"
    assert create_runs(flyte_devserver.admin) == 1
