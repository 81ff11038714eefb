"""Killing a FlyteRunOperator aborts its remote run: a real SIGTERM, and kills that land mid-launch."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import threading
import time

import pytest

from flyte_airflow.hooks.flyte import FlyteHook
from flyte_airflow.operators.flyte import FlyteRunOperator
from tests.waiting import wait_until

from .conftest import AIRFLOW_BIN, REPO_ROOT
from .test_components import FakeTI

KILL_REASON = "The Airflow task was killed"


def _only_run(client, timeout: float = 60.0, phase: str | None = None):
    """The one run on the devserver (in ``phase`` if given), once it exists."""

    def found():
        runs = client.list_runs()
        assert len(runs) <= 1, [r.name for r in runs]
        return runs[0] if runs and (phase is None or runs[0].phase.value == phase) else None

    return wait_until(found, f"a run{'' if phase is None else ' ' + phase}", timeout=timeout)


def _ended(client, name: str, timeout: float = 30.0):
    return wait_until(lambda: (run := client.get_run(name)).done() and run, f"run {name} ending", timeout=timeout)


def _abort_reason(client, name: str) -> str:
    info = client.get_run(name).details().action_details.abort_info
    return info.reason if info is not None else ""


# -- a real SIGTERM to a real task process ------------------------------------------------------


@pytest.mark.timeout(240)
def test_sigterm_to_airflow_tasks_test_aborts_remote_run(dags, flyte_conn, tmp_path):
    """``airflow tasks test`` runs the task in-process (InProcessTestSupervisor), on the main thread,
    under the task runner's SIGTERM handler, which calls ``on_kill`` (as the supervised child of
    ``airflow tasks run`` does when the supervisor forwards a SIGTERM)."""
    dag_id, _ = dags.write("""
from datetime import datetime
from airflow.sdk import DAG
from flyte_airflow.operators.flyte import FlyteRunOperator

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="hang", task_name="sample_tasks.hang")
""")
    env = os.environ.copy()  # AIRFLOW_HOME, dags folder, DB and AIRFLOW_CONN_FLYTE_DEFAULT (flyte_conn)
    # `tasks test` reads the DAG from the metadata DB
    parsed = subprocess.run(
        [AIRFLOW_BIN, "dags", "reserialize"],
        env=env,
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
    log_path = tmp_path / "tasks-test.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [AIRFLOW_BIN, "tasks", "test", dag_id, "hang"],
            env=env,
            cwd=str(REPO_ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        run = _only_run(flyte_conn.client, timeout=120, phase="RUNNING")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        time.sleep(1.0)  # let the operator settle into its wait (a kill mid-launch is covered below)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    output = log_path.read_text()
    ended = _ended(flyte_conn.client, run.name)
    assert ended.phase.value == "ABORTED", (ended.phase, output[-3000:])
    assert "Airflow" in _abort_reason(flyte_conn.client, run.name)
    assert _abort_reason(flyte_conn.client, run.name) == KILL_REASON
    assert f"Aborted Flyte run {run.name}" in output, output[-3000:]
    assert flyte_conn.admin.call_count("CreateRun") == 1


# -- kills that land while the run is being launched --------------------------------------------


class HeldLaunchHook(FlyteHook):
    """The real hook, whose launch stops at a gate: before sending CreateRun, or after its answer
    arrived but before the operator sees it (the run exists remotely, the operator does not know it)."""

    gate: dict  # set per test: {"where": "before"|"after", "entered": Event, "proceed": Event, "inline": callable}

    def launch(self, *args, **kwargs):
        gate = self.gate
        if gate["where"] == "before":
            self._stop(gate)
            return super().launch(*args, **kwargs)
        outcome = super().launch(*args, **kwargs)
        self._stop(gate)
        return outcome

    @staticmethod
    def _stop(gate):
        gate["entered"].set()
        if gate.get("inline"):
            gate["inline"]()
        assert gate["proceed"].wait(30), "the test never let the launch proceed"


class HeldLaunchOperator(FlyteRunOperator):
    @property
    def hook(self) -> FlyteHook:
        if self._hook is None:
            self._hook = HeldLaunchHook(self.flyte_conn_id, project=self.project, domain=self.domain)
        return self._hook


def _start(op: FlyteRunOperator) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = op.execute({"ti": FakeTI()})
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    return worker, outcome


def _gate(monkeypatch, where: str, inline=None) -> dict:
    gate = {"where": where, "entered": threading.Event(), "proceed": threading.Event(), "inline": inline}
    monkeypatch.setattr(HeldLaunchHook, "gate", gate, raising=False)
    return gate


@pytest.mark.timeout(90)
@pytest.mark.parametrize("where", ["before", "after"], ids=["before-CreateRun", "CreateRun-answered-unseen"])
def test_kill_from_another_thread_during_launch_waits_and_aborts(flyte_conn, monkeypatch, where):
    from airflow.sdk.exceptions import AirflowFailException

    gate = _gate(monkeypatch, where)
    op = HeldLaunchOperator(task_id="t", task_name="sample_tasks.hang", stream_logs=False)
    worker, outcome = _start(op)
    assert gate["entered"].wait(30)
    assert flyte_conn.admin.call_count("CreateRun") == (1 if where == "after" else 0)
    killer = threading.Thread(target=op.on_kill, daemon=True)
    killer.start()
    time.sleep(0.7)
    assert killer.is_alive(), "on_kill must wait for the launch in flight"
    gate["proceed"].set()
    killer.join(30)
    worker.join(30)
    assert not killer.is_alive() and not worker.is_alive()
    run = _only_run(flyte_conn.client)
    assert _ended(flyte_conn.client, run.name).phase.value == "ABORTED"
    assert _abort_reason(flyte_conn.client, run.name) == KILL_REASON
    assert isinstance(outcome.get("error"), AirflowFailException), outcome
    assert "killed" in str(outcome["error"]) and run.name in str(outcome["error"]), outcome["error"]
    assert flyte_conn.admin.call_count("CreateRun") == 1
    assert flyte_conn.admin.call_count("AbortRun") == 1, "on_kill and execute must not both abort"
    assert op._guard.killed and not copy.deepcopy(op._guard).killed  # a copied task gets a fresh guard


@pytest.mark.timeout(90)
def test_kill_during_a_launch_that_fails_aborts_nothing(flyte_conn, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    gate = _gate(monkeypatch, "before")
    flyte_conn.admin.fail_next("CreateRun", "PERMISSION_DENIED", count=5)
    op = HeldLaunchOperator(task_id="t", task_name="sample_tasks.hang", stream_logs=False)
    worker, outcome = _start(op)
    assert gate["entered"].wait(30)
    killer = threading.Thread(target=op.on_kill, daemon=True)
    killer.start()
    time.sleep(0.5)
    assert killer.is_alive()
    gate["proceed"].set()
    killer.join(30)
    worker.join(30)
    assert not killer.is_alive() and not worker.is_alive()
    assert isinstance(outcome.get("error"), AirflowFailException), outcome
    assert "could not launch" in str(outcome["error"])
    assert flyte_conn.admin.call_count("CreateRun") >= 1
    assert flyte_conn.client.list_runs() == []
    assert flyte_conn.admin.call_count("AbortRun") == 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("where", ["before", "after"], ids=["before-CreateRun", "CreateRun-answered-unseen"])
def test_kill_on_the_launching_thread_does_not_block_and_execute_aborts(flyte_conn, monkeypatch, where):
    """Airflow's SIGTERM handler runs ``on_kill`` on the thread that is launching: it must not
    wait for itself; ``execute`` aborts the run when the launch returns."""
    from airflow.sdk.exceptions import AirflowFailException

    timing: dict = {}
    op = HeldLaunchOperator(task_id="t", task_name="sample_tasks.hang", stream_logs=False)

    def kill_inline():  # what the signal handler would do, on the same thread, mid-launch
        started = time.monotonic()
        op.on_kill()
        timing["on_kill"] = time.monotonic() - started
        gate["proceed"].set()

    gate = _gate(monkeypatch, where, inline=kill_inline)
    worker, outcome = _start(op)
    worker.join(60)
    assert not worker.is_alive()
    assert timing["on_kill"] < 3, timing
    run = _only_run(flyte_conn.client)
    assert _ended(flyte_conn.client, run.name).phase.value == "ABORTED"
    assert _abort_reason(flyte_conn.client, run.name) == KILL_REASON
    error = outcome.get("error")
    assert isinstance(error, AirflowFailException), outcome
    assert f"killed while Flyte run {run.name} was being launched; the run was aborted" in str(error), error
    assert flyte_conn.admin.call_count("AbortRun") == 1
