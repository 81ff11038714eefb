"""Real terminations: the Dagster run is interrupted in another process; the remote run ends ABORTED.

Two paths: SIGINT to a process running ``materialize`` (the step runs in its main
thread), and a run executed by ``dagster job execute`` (multiprocess executor, the step
in a child process) terminated through the Dagster instance: ``report_run_canceling``
and SIGTERM to the run worker, which is what Dagster's run launcher does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.waiting import wait_until

from .helpers import create_runs

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}


def _running_run(flyte_devserver, proc: subprocess.Popen):
    wait_until(lambda: create_runs(flyte_devserver.admin) == 1 or proc.poll() is not None, timeout=60)
    assert proc.poll() is None, proc.stdout.read()
    client = flyte_devserver.client
    return wait_until(lambda: next((r for r in client.list_runs() if r.phase.value == "RUNNING"), None), timeout=30)


def _assert_aborted_by_dagster(flyte_devserver, run_name: str, dagster_run_id: str | None = None) -> None:
    run = flyte_devserver.client.get_run(run_name)
    assert run.phase.value == "ABORTED"
    reason = run.action.details().abort_info.reason
    assert "was terminated" in reason and "Dagster run" in reason, reason
    if dagster_run_id is not None:
        assert dagster_run_id in reason, reason
    assert create_runs(flyte_devserver.admin) == 1  # no relaunch on the way out


def test_sigint_to_a_materializing_process_aborts_the_remote_run(flyte_devserver):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flyte_dagster.terminate_target", flyte_devserver.endpoint],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run = _running_run(flyte_devserver, proc)
        # Dagster turns SIGINT (and SIGTERM in run workers) into DagsterExecutionInterruptedError in the step.
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"Launched Flyte run {run.name} of dagster_tasks.slow: {run.url}" in output, output[-3000:]
    assert f"Aborted Flyte run {run.name}" in output, output[-3000:]
    assert "DAGSTER RUN STATUS DagsterRunStatus.FAILURE" in output, output[-3000:]
    _assert_aborted_by_dagster(flyte_devserver, run.name)


def test_terminating_a_run_through_the_instance_aborts_the_remote_run(flyte_devserver, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")  # a persistent sqlite instance both processes share
    env = _env(DAGSTER_HOME=str(home), FLYTE_ENDPOINT=flyte_devserver.endpoint, FLYTE_INSECURE="1")
    proc = subprocess.Popen(
        [str(DAGSTER), "job", "execute", "-m", "tests.flyte_dagster.terminate_target", "-j", "slow_job"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    try:
        run = _running_run(flyte_devserver, proc)
        with dg.DagsterInstance.get() as instance:
            [dagster_run] = instance.get_runs()
            assert dagster_run.status == dg.DagsterRunStatus.STARTED
            instance.report_run_canceling(dagster_run)
            proc.send_signal(signal.SIGTERM)  # the run worker interrupts its step processes
            output, _ = proc.communicate(timeout=60)
            assert instance.get_run_by_id(dagster_run.run_id).status == dg.DagsterRunStatus.CANCELED, output[-3000:]
            messages = [(e.step_key, e.user_message) for e in instance.all_logs(dagster_run.run_id)]
    finally:
        if proc.poll() is None:
            proc.kill()
    step_log = [m for key, m in messages if key == "slow_step"]
    assert f"Launched Flyte run {run.name} of dagster_tasks.slow: {run.url}" in step_log, step_log
    assert f"Aborted Flyte run {run.name} ({run.url})" in step_log, step_log
    # the remote run's own log reached the step log
    assert f"[flyte {run.name}] slow task started" in step_log, step_log
    _assert_aborted_by_dagster(flyte_devserver, run.name, dagster_run.run_id)


def test_the_launch_shield_holds_an_interrupt_back_until_the_launch_is_done():
    # What keeps a launch whole: inside the shield Dagster's interrupt is recorded, not raised,
    # so run_task always learns the run's name and can abort it (see flyte_dagster._termination).
    import time

    from flyte_dagster._termination import shielded

    with dg.raise_execution_interrupts():  # what Dagster wraps step code in
        with shielded() as shield:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # a launch in progress; the signal handler has run by now
        assert shield.interrupted
        with pytest.raises(dg.DagsterExecutionInterruptedError):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
