"""Event-driven scheduling on Flyte runs (issue 15) in a real Airflow 3 deployment: two
AssetWatchers with FlyteRunEventTrigger in the real triggerer, Flyte runs launched outside
Airflow, DAG runs and their triggering asset events read back through the REST API.

The watchers share one stream: one Airflow shared stream (same connection, project and domain),
one core subscription, one WatchRuns stream on the devserver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flyte_remote_core.devserver import DevServer

from .deployment import Deployment, airflow_deployment, wait_until

pytestmark = pytest.mark.timeout(300)

EXAMPLE_DAG = Path(__file__).resolve().parents[3] / "examples" / "airflow" / "dags" / "flyte_run_events.py"

DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG, Asset, AssetWatcher, task

from flyte_airflow.triggers.flyte import FlyteRunEventTrigger

added = Asset(
    "flyte_add_runs",
    watchers=[AssetWatcher(name="flyte_add_runs", trigger=FlyteRunEventTrigger(task_name="sample_tasks.add"))],
)
failed = Asset(
    "flyte_failed_runs",
    watchers=[AssetWatcher(name="flyte_failed_runs", trigger=FlyteRunEventTrigger(phases=["FAILED"]))],
)

with DAG("e2e_flyte_added", schedule=[added], start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def consume(**context):
        events = [e for evs in context["triggering_asset_events"].values() for e in evs]
        names = [e.extra["payload"]["run_name"] for e in events]
        print("Flyte runs that triggered this DAG run:", names)
        assert names, "a DAG run scheduled by the watcher has its triggering event"
        return names

    consume()

with DAG("e2e_flyte_failed", schedule=[failed], start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def note(**context):
        return [e.extra["payload"]["run_name"] for evs in context["triggering_asset_events"].values() for e in evs]

    note()
"""


@pytest.fixture(scope="module")
def flyte(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(
        tasks=["tests.devserver.sample_tasks", "examples.tasks"],
        port=0,
        data_dir=tmp_path_factory.mktemp("e2e-events-flyte"),
        workers=4,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, flyte: DevServer) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("e2e-events-airflow")
    dags = {"e2e_flyte_events.py": DAG_FILE, "flyte_run_events.py": EXAMPLE_DAG.read_text()}
    with airflow_deployment(home, flyte.endpoint, dags) as deployment:
        yield deployment


def _dag_runs(airflow: Deployment, dag_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = airflow.api.get(f"/dags/{dag_id}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    return runs


def _payloads(airflow: Deployment, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The payloads of the asset events that triggered a DAG run (the REST API's view)."""
    events = airflow.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/upstreamAssetEvents").json()["asset_events"]
    return [e["extra"]["payload"] for e in events if (e.get("extra") or {}).get("from_trigger")]


def _finished(flyte: DevServer, name: str, timeout: float = 60) -> str:
    with flyte.client() as client:
        wait_until(lambda: client.get_run(name).done(), timeout, f"Flyte run {name} ends")
        return str(client.get_run(name).phase.value)


def test_each_flyte_run_schedules_one_dag_run_with_its_event(airflow: Deployment, flyte: DevServer) -> None:
    airflow.wait_for_dag("e2e_flyte_added")
    airflow.wait_for_dag("e2e_flyte_failed")
    # The triggerer runs both watchers: their one subscription has taken its baseline on one stream.
    wait_until(
        lambda: flyte.admin.status()["open_streams"] >= 1 and flyte.admin.call_count("ListRuns") >= 1,
        120,
        "the watchers watching",
        airflow,
    )
    started = time.monotonic()

    launched: list[str] = []
    with flyte.client() as client:
        for i in range(3):
            name = client.run("sample_tasks.add", {"x": i, "y": 1}).name
            launched.append(name)
            assert _finished(flyte, name) == "SUCCEEDED"
            # One DAG run per event holds for events spaced apart: wait for this one's DAG run first.
            wait_until(lambda n=i + 1: len(_dag_runs(airflow, "e2e_flyte_added")) >= n, 90, f"DAG run {i + 1}", airflow)
        failure = client.run("sample_tasks.fail_user", {"message": "on purpose"}).name
        assert _finished(flyte, failure) == "FAILED"
    wait_until(lambda: len(_dag_runs(airflow, "e2e_flyte_failed")) >= 1, 90, "the failure's DAG run", airflow)

    runs = _dag_runs(airflow, "e2e_flyte_added")
    assert len(runs) == 3, runs
    # Airflow 3.3's upstreamAssetEvents answers 500 for a DAG run that has not started yet
    # (its start_date is None): read the events once the DAG runs have finished.
    for run in runs:
        assert airflow.wait_dag_run("e2e_flyte_added", run["dag_run_id"], 120) == "success", airflow.logs()
    triggered_by = []
    for run in runs:
        payloads = _payloads(airflow, "e2e_flyte_added", run["dag_run_id"])
        assert len(payloads) == 1, payloads
        payload = payloads[0]
        assert payload["phase"] == "SUCCEEDED" and payload["task_name"] == "sample_tasks.add"
        assert (payload["project"], payload["domain"]) == ("flytesnacks", "development")
        assert payload["url"].endswith(f"/runs/{payload['run_name']}")
        triggered_by.append(payload["run_name"])
    assert sorted(triggered_by) == sorted(launched), "exactly one DAG run per Flyte run, with its name"

    failed_runs = _dag_runs(airflow, "e2e_flyte_failed")
    assert len(failed_runs) == 1, failed_runs
    assert airflow.wait_dag_run("e2e_flyte_failed", failed_runs[0]["dag_run_id"], 120) == "success"
    assert [p["run_name"] for p in _payloads(airflow, "e2e_flyte_failed", failed_runs[0]["dag_run_id"])] == [failure]

    assert flyte.admin.call_count("WatchRuns") == 1, "two watchers on one project/domain: one WatchRuns stream"
    assert flyte.admin.status()["open_streams"] == 1
    # ... read by one Airflow shared stream: the triggerer opened it once for both watchers.
    triggerer_log = (airflow.home / "triggerer.log").read_text(errors="replace")
    assert triggerer_log.count("Watching the Flyte runs of flytesnacks/development") == 1, airflow.logs()
    print(f"3 Flyte runs -> 3 DAG runs in {time.monotonic() - started:.1f} s")


def test_the_example_dag_runs_once_per_flyte_run_with_its_name(airflow: Deployment, flyte: DevServer) -> None:
    """examples/airflow/dags/flyte_run_events.py (the README's DAG) in the real triggerer."""
    airflow.wait_for_dag("flyte_run_events")
    assert _dag_runs(airflow, "flyte_run_events") == []
    with flyte.client() as client:
        name = client.run("tasks.add", {"x": 1, "y": 2}).name
        assert _finished(flyte, name) == "SUCCEEDED"
        other = client.run("sample_tasks.add", {"x": 5, "y": 5}).name  # another task: no DAG run
        assert _finished(flyte, other) == "SUCCEEDED"
    wait_until(lambda: len(_dag_runs(airflow, "flyte_run_events")) >= 1, 90, "the example's DAG run", airflow)
    (run,) = _dag_runs(airflow, "flyte_run_events")
    assert airflow.wait_dag_run("flyte_run_events", run["dag_run_id"], 120) == "success", airflow.logs()
    xcom = airflow.api.get(
        f"/dags/flyte_run_events/dagRuns/{run['dag_run_id']}/taskInstances/report/xcomEntries/return_value"
    ).json()
    assert xcom["value"] == [name], xcom
    assert [p["run_name"] for p in _payloads(airflow, "flyte_run_events", run["dag_run_id"])] == [name]
    assert flyte.admin.call_count("WatchRuns") == 1, "three watchers on one project/domain: one stream"
