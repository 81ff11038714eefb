"""`make demo` runs for real: its exit code and its summary are what a new user sees first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _demo(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLYTE_", "AIRFLOW"))}
    return subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


def _assert_summary(result: subprocess.CompletedProcess) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    assert "Flyte runs of this demo" in out
    for task in ("tasks.slow", "tasks.fail", "tasks.add", "tasks.greet", "tasks.summarize"):
        assert task in out, task
    assert "USER: ValueError: the demo asked for this failure" in out
    assert '{"o0": 42}' in out  # the Airflow DAG's run
    assert "add says 42" in out
    assert "total=3 mean=9.0" in out  # the Dagster downstream asset
    assert "Demo succeeded." in out
    assert "NO" not in out.split("Demo steps")[-1]


@pytest.mark.timeout(300)
def test_demo_with_its_own_devserver() -> None:
    result = _demo({})
    _assert_summary(result)
    assert "Started the embedded devserver" in result.stdout


@pytest.mark.timeout(300)
@pytest.mark.flyte_devserver_tasks("examples.tasks")
def test_demo_against_a_configured_backend(flyte_devserver) -> None:
    result = _demo({"FLYTE_ENDPOINT": flyte_devserver.endpoint, "FLYTE_INSECURE": "true"})
    _assert_summary(result)
    assert f"Using the Flyte backend at {flyte_devserver.endpoint}" in result.stdout
    assert flyte_devserver.admin.call_count("CreateRun") >= 7


@pytest.mark.timeout(60)
def test_a_failing_step_makes_the_demo_exit_non_zero() -> None:
    # Point the demo at a backend that is not there: every step fails, the exit code says so.
    result = _demo({"FLYTE_ENDPOINT": "127.0.0.1:1", "FLYTE_INSECURE": "true"})
    assert result.returncode != 0
