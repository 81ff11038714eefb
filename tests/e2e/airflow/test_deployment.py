"""Airflow 3 in a real deployment (scheduler, triggerer, dag-processor, API server) against the
devserver: what only those processes do, counted exactly (CreateRun calls, remote phases, task states).

Each case was broken before the fixes of issue 12: a clear of a deferred task attached to the old
run and then failed; fast mapped triggers lost the race with the scheduler; triggers opened a
stream each; a deadline while deferred failed the task 18 to 30 s late.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from flyte_remote_core.devserver import DevServer

from ..flyte_runs import new_runs, run_names
from .deployment import Deployment, airflow_deployment, wait_until

pytestmark = pytest.mark.timeout(900)

HEADER = """
from datetime import datetime
from airflow.sdk import DAG
from flyte_airflow.operators.flyte import FlyteRunOperator
"""
DAGS = {
    "e2e_clear.py": HEADER
    + """
with DAG("e2e_clear", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    FlyteRunOperator(task_id="flyte", task_name="sample_tasks.sleepy", inputs={"seconds": 12.0},
                     deferrable=True, wait_before_defer=0)
""",
    "e2e_fast_mapped.py": HEADER
    + """
with DAG("e2e_fast_mapped", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    FlyteRunOperator.partial(task_id="fast", task_name="sample_tasks.sleepy", deferrable=True).expand(
        inputs=[{"seconds": 1.0 + i / 1000} for i in range(100)]
    )
""",
    "e2e_deferred_mapped.py": HEADER
    + """
with DAG("e2e_deferred_mapped", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    FlyteRunOperator.partial(
        task_id="deferred", task_name="sample_tasks.sleepy", deferrable=True, wait_before_defer=0
    ).expand(inputs=[{"seconds": 2.0 + i / 1000} for i in range(100)])
""",
    "e2e_deadline.py": HEADER
    + """
with DAG("e2e_deadline", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    FlyteRunOperator(task_id="late", task_name="sample_tasks.hang", deferrable=True, wait_before_defer=0,
                     timeout=10, retries=0)
""",
}


@pytest.fixture(scope="module")
def flyte(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(
        tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path_factory.mktemp("e2e-flyte"), workers=16
    ) as server:
        yield server


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, flyte: DevServer) -> Iterator[Deployment]:
    with airflow_deployment(tmp_path_factory.mktemp("e2e-airflow"), flyte.endpoint, DAGS) as deployment:
        yield deployment


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_clearing_a_deferred_task_aborts_the_old_run_and_the_new_try_launches_fresh(
    airflow: Deployment, flyte: DevServer
) -> None:
    before = flyte.admin.call_count("CreateRun")
    known = run_names(flyte, "sample_tasks.sleepy")
    run_id = airflow.trigger("e2e_clear")
    wait_until(
        lambda: airflow.task_instance("e2e_clear", run_id, "flyte")["state"] == "deferred", 120, "deferral", airflow
    )
    # Deferred at once (wait_before_defer=0): its run may still be starting its worker. Clear it
    # while it is RUNNING (a bound, not a timing).
    wait_until(
        lambda: [r.phase.value for r in new_runs(flyte, "sample_tasks.sleepy", known)] == ["RUNNING"],
        60,
        "the one Flyte run RUNNING",
        airflow,
    )
    first = new_runs(flyte, "sample_tasks.sleepy", known)
    assert len(first) == 1 and first[0].phase.value == "RUNNING", first
    airflow.clear("e2e_clear", run_id, "flyte")

    assert airflow.wait_dag_run("e2e_clear", run_id, 180) == "success", airflow.logs()
    ti = airflow.task_instance("e2e_clear", run_id, "flyte")
    assert ti["state"] == "success" and ti["try_number"] == 2, ti
    assert flyte.admin.call_count("CreateRun") - before == 2
    with flyte.client() as client:
        old = client.get_run(first[0].name)
        assert old.phase.value == "ABORTED", old
        runs = new_runs(flyte, "sample_tasks.sleepy", known)
        assert sorted(r.phase.value for r in runs) == ["ABORTED", "SUCCEEDED"]


def test_a_hundred_fast_mapped_deferrable_tasks_all_succeed_with_one_launch_each(
    airflow: Deployment, flyte: DevServer
) -> None:
    before = flyte.admin.call_count("CreateRun")
    run_id = airflow.trigger("e2e_fast_mapped")
    assert airflow.wait_dag_run("e2e_fast_mapped", run_id, 600) == "success", airflow.logs()
    states = [ti["state"] for ti in airflow.task_instances("e2e_fast_mapped", run_id)]
    assert states.count("success") == 100, states
    assert flyte.admin.call_count("CreateRun") - before == 100


def test_a_hundred_deferred_tasks_share_one_stream_in_the_triggerer(airflow: Deployment, flyte: DevServer) -> None:
    before_runs = flyte.admin.call_count("CreateRun")
    before_streams = flyte.admin.call_count("WatchRuns")
    run_id = airflow.trigger("e2e_deferred_mapped")
    assert airflow.wait_dag_run("e2e_deferred_mapped", run_id, 600) == "success", airflow.logs()
    tis = airflow.task_instances("e2e_deferred_mapped", run_id)
    assert [ti["state"] for ti in tis].count("success") == 100
    assert flyte.admin.call_count("CreateRun") - before_runs == 100
    streams = flyte.admin.call_count("WatchRuns") - before_streams
    print(f"WatchRuns streams opened for 100 deferred tasks: {streams}")
    assert 1 <= streams <= 2, streams


def test_a_deadline_while_deferred_aborts_the_run_and_fails_the_task_on_time(
    airflow: Deployment, flyte: DevServer
) -> None:
    known = run_names(flyte, "sample_tasks.hang")
    run_id = airflow.trigger("e2e_deadline")
    assert airflow.wait_dag_run("e2e_deadline", run_id, 180) == "failed", airflow.logs()
    ti = airflow.task_instance("e2e_deadline", run_id, "late")
    assert ti["state"] == "failed", ti
    (run,) = new_runs(flyte, "sample_tasks.hang", known)
    assert run.phase.value == "ABORTED"
    # The run was aborted at the deadline (10 s after the operator started); Airflow must mark the
    # task failed within 5 s of it (it took 18 to 30 s before).
    with flyte.client() as client:
        aborted_at = client.get_run(run.name).details().pb2.action.status.end_time.ToNanoseconds() / 1e9
    late = _parse(ti["end_date"]) - aborted_at
    print(f"deadline -> task failed: {late:.1f}s")
    # Airflow sends FAILED only once its supervisor saw the process exit, which it may notice
    # up to `[workers] min_heartbeat_interval` late (1 s in this deployment, see README).
    assert late < 5, late


def test_the_connection_test_button_works_with_test_connection_enabled(airflow: Deployment, flyte: DevServer) -> None:
    body = {"connection_id": "flyte_e2e", "conn_type": "flyte", "host": flyte.endpoint}
    body["extra"] = '{"insecure": true, "project": "flytesnacks", "domain": "development"}'
    resp = airflow.api.post("/connections/test", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] is True, resp.json()


def test_processes_stay_up(airflow: Deployment) -> None:
    dead = {name: proc.returncode for name, proc in airflow.procs.items() if proc.poll() is not None}
    assert dead == {}, airflow.logs()
