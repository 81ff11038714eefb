"""Dagster 1.13 in a real deployment (dagster-webserver, dagster-daemon and one ``dagster
code-server``; QueuedRunCoordinator and DefaultRunLauncher; run monitoring and run retries on)
against the devserver: what only those processes do, driven through the GraphQL API as the UI
drives it and counted exactly (CreateRun and lookup calls, remote phases, Dagster run statuses).

Each case was broken before the fixes of issue 12: a run retry after kill -9 of the run worker
launched a second Flyte run (its name came from the new run id); ``build_flyte_asset(ins=...,
inputs=...)`` with no backend at definition time failed the code location's load; a location with
20 Flyte assets called ListTasks and GetTaskDetails 20 times each on every reload. Terminating a
run from the UI must abort its Flyte run.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flyte_remote_core.devserver import DevServer

from ..flyte_runs import new_runs, run_names
from .deployment import REPO, TERMINAL, Deployment, dagster_deployment, free_port, kill9_tree, wait_until

pytestmark = pytest.mark.timeout(600)

PROJECT = {"project": "flytesnacks", "domain": "development"}

MAIN = """
import dagster as dg
from flyte_dagster import FlyteResource, build_flyte_asset, build_flyte_run_sensor

flyte = FlyteResource(endpoint={endpoint!r}, insecure=True, project="flytesnacks", domain="development")
held = build_flyte_asset("sample_tasks.add", key="held_total", inputs={{"x": 20, "y": 22}}, resource=flyte)
hanging = build_flyte_asset("sample_tasks.hang", key="hanging", resource=flyte)
# Runs of sample_tasks.add launched outside Dagster; the ones `held_total` launches are not counted.
observed = dg.AssetSpec("observed_adds")
adds = build_flyte_run_sensor(
    "observed_adds", "sample_tasks.add", minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING
)
defs = dg.Definitions(assets=[held, hanging, observed], sensors=[adds], resources={{"flyte": flyte}})
"""
SENSOR = "flyte_runs_observed_adds"
TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 100) { status timestamp } } }
  }
}
"""

# The resource at definition time names no backend: its asset definitions cannot look the task up.
# The backend is named only by the run config of the launch ("the resource given at materialize
# time"). ``{preamble}`` says why there is no backend: nothing in the environment (the test session's
# FLYTE_* are not passed on), or FLYTE_ENDPOINT naming a port nothing listens on.
NO_BACKEND = """
import os
{preamble}
import dagster as dg
from flyte_dagster import FlyteResource, build_flyte_asset

@dg.asset
def {p}_base() -> int:
    return 40

total = build_flyte_asset("sample_tasks.add", key="{p}_total", ins={{"x": "{p}_base"}}, inputs={{"y": 2}})
wrong = build_flyte_asset("sample_tasks.add", key="{p}_wrong", inputs={{"x": 1, "zz": 2}})
defs = dg.Definitions(
    assets=[{p}_base, total, wrong], resources={{"flyte": FlyteResource()}}, executor=dg.in_process_executor
)
"""
UNSET = 'assert "FLYTE_ENDPOINT" not in os.environ'
PREFIX = {"flyte_no_backend": "unset", "flyte_dead_backend": "dead"}  # asset keys are unique across locations
DEAD = 'os.environ["FLYTE_ENDPOINT"] = "127.0.0.1:{port}"; os.environ["FLYTE_INSECURE"] = "true"'

# Its own devserver (nothing else calls it), its own code server (see dagster_deployment) and the
# snapshot setting for this location only. Steps run in the run worker (no step process to start).
TWENTY = """
import os
os.environ["FLYTE_DAGSTER_INTERFACE_SNAPSHOT"] = {snapshot!r}
import dagster as dg
from flyte_dagster import FlyteResource, build_flyte_asset

flyte = FlyteResource(endpoint={endpoint!r}, insecure=True, project="flytesnacks", domain="development")
assets = [
    build_flyte_asset("sample_tasks.add", key=f"add_{{i}}", inputs={{"x": i, "y": 1}}, resource=flyte)
    for i in range(10)
] + [
    build_flyte_asset("sample_tasks.greet", key=f"greet_{{i}}", inputs={{"name": f"n{{i}}"}}, resource=flyte)
    for i in range(10)
]
defs = dg.Definitions(assets=assets, resources={{"flyte": flyte}}, executor=dg.in_process_executor)
"""

NO_RETRY = {"dagster/max_retries": "0"}


@pytest.fixture(scope="module")
def flyte(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(
        tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path_factory.mktemp("e2e-flyte"), workers=4
    ) as server:
        yield server


@pytest.fixture(scope="module")
def lookups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """The backend of the twenty-asset location only, so its counts are that location's loads."""
    with DevServer(
        tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path_factory.mktemp("e2e-lookups"), workers=1
    ) as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-dagster")


@pytest.fixture(scope="module")
def dagster(home: Path, flyte: DevServer, lookups: DevServer) -> Iterator[Deployment]:
    locations = {
        "flyte_e2e": MAIN.format(endpoint=flyte.endpoint),
        "flyte_no_backend": NO_BACKEND.format(preamble=UNSET, p=PREFIX["flyte_no_backend"]),
        "flyte_dead_backend": NO_BACKEND.format(preamble=DEAD.format(port=free_port()), p=PREFIX["flyte_dead_backend"]),
        # The snapshot file does not exist yet: loads look the interfaces up until a test writes it.
        "flyte_twenty": TWENTY.format(endpoint=lookups.endpoint, snapshot=str(home / "flyte_interfaces.json")),
    }
    with dagster_deployment(home, locations, code_servers={"flyte_twenty"}) as deployment:
        yield deployment


def _phase(flyte: DevServer, name: str) -> str:
    with flyte.client() as client:
        return str(client.get_run(name).phase.value)


def _running(flyte: DevServer, task_name: str, before: set[str]) -> Any:
    runs = new_runs(flyte, task_name, before)
    return runs[0] if len(runs) == 1 and runs[0].phase.value == "RUNNING" else None


def test_run_retry_after_kill9_of_the_run_worker_reattaches(dagster: Deployment, flyte: DevServer) -> None:
    """kill -9 of the run worker (and its step process) while its Flyte run is RUNNING: run
    monitoring finds the worker gone and fails the run, the run-retry daemon launches a retry (a
    new run id, from failure), and the retry attaches to the same Flyte run: 1 CreateRun, the retry
    SUCCESS, its one materialization "attached" to that run."""
    admin = flyte.admin
    before, known = admin.call_count("CreateRun"), run_names(flyte, "sample_tasks.add")
    admin.hold(all_new_runs=True)  # the Flyte run stays RUNNING until the retry has attached
    try:
        run_id = dagster.launch("flyte_e2e", ["held_total"])
        remote = wait_until(
            lambda: _running(flyte, "sample_tasks.add", known), 180, "the Flyte run RUNNING", dagster, run_id
        )
        assert admin.call_count("CreateRun") - before == 1
        pid = dagster.worker_pid(run_id)
        assert pid is not None, dagster.logs(run_id)
        assert dagster.status(run_id) == "STARTED"
        kill9_tree(pid)

        assert dagster.wait_status(run_id, TERMINAL, 60) == "FAILURE"
        retry = wait_until(
            lambda: next(iter(dagster.runs(**{"dagster/root_run_id": run_id})), None),
            60,
            "the run-retry daemon's retry",
            dagster,
            run_id,
        )
        retry_id = retry["runId"]
        assert retry_id != run_id and retry["rootRunId"] == run_id
        assert retry["tags"].get("dagster/retry_number") == "1", retry["tags"]
        attached = f"Attached to the still active Flyte run {remote.name}"
        wait_until(
            lambda: any(attached in m for m in dagster.messages(retry_id)),
            180,
            "the retry attaching to the first Flyte run",
            dagster,
            retry_id,
        )
        assert admin.call_count("CreateRun") - before == 1, "the run retry launched a second Flyte run"
    finally:
        admin.release()

    assert dagster.wait_status(retry_id, TERMINAL, 120) == "SUCCESS", dagster.logs(retry_id)
    assert admin.call_count("CreateRun") - before == 1
    assert [r.name for r in new_runs(flyte, "sample_tasks.add", known)] == [remote.name]
    assert _phase(flyte, remote.name) == "SUCCEEDED"
    mats = dagster.materializations("held_total")
    assert [m["runId"] for m in mats] == [retry_id], mats  # the killed run materialized nothing
    assert mats[0]["metadata"]["dagster-flyte/launch"] == "attached"
    assert mats[0]["metadata"]["dagster-flyte/run_name"] == remote.name
    assert len(dagster.runs(**{"dagster/root_run_id": run_id})) == 1  # one retry, no more


def test_terminate_from_the_ui_aborts_the_flyte_run(dagster: Deployment, flyte: DevServer) -> None:
    """terminateRun while the step waits on a RUNNING Flyte run: the run ends CANCELED (so the
    run-retry daemon, which retries failures only, leaves it), its Flyte run ABORTED, 1 CreateRun."""
    admin = flyte.admin
    before, known = admin.call_count("CreateRun"), run_names(flyte, "sample_tasks.hang")
    run_id = dagster.launch("flyte_e2e", ["hanging"])  # run retries on, as for any run
    remote = wait_until(
        lambda: _running(flyte, "sample_tasks.hang", known), 180, "the Flyte run RUNNING", dagster, run_id
    )
    assert dagster.status(run_id) == "STARTED"
    dagster.terminate(run_id)
    assert dagster.wait_status(run_id, TERMINAL, 90) == "CANCELED", dagster.logs(run_id)
    wait_until(lambda: _phase(flyte, remote.name) == "ABORTED", 30, "the Flyte run ABORTED", dagster, run_id)
    assert admin.call_count("CreateRun") - before == 1
    assert [r.name for r in new_runs(flyte, "sample_tasks.hang", known)] == [remote.name]
    assert any(f"Aborted Flyte run {remote.name}" in m for m in dagster.messages(run_id)), dagster.logs(run_id)
    assert dagster.materializations("hanging") == []
    assert dagster.runs(**{"dagster/root_run_id": run_id}) == []


@pytest.mark.parametrize("location", sorted(PREFIX))
def test_definitions_load_with_no_backend_and_materialize_with_the_resource_at_launch(
    dagster: Deployment, flyte: DevServer, home: Path, location: str
) -> None:
    """No FLYTE_ENDPOINT (or one naming a dead port) and no resource at definition time: the location
    loads, with its assets and no error; a launch whose run config names the backend materializes
    (1 CreateRun, the value 42); a wrong input name fails at run time, launching nothing."""
    prefix = PREFIX[location]
    entry = dagster.locations()[location]
    assert entry["loadStatus"] == "LOADED", entry
    loaded = entry["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", loaded
    keys = {"/".join(n["assetKey"]["path"]) for r in loaded["repositories"] for n in r["assetNodes"]}
    assert keys == {f"{prefix}_base", f"{prefix}_total", f"{prefix}_wrong"}

    admin = flyte.admin
    before = admin.call_count("CreateRun")
    config = {"resources": {"flyte": {"config": {"endpoint": flyte.endpoint, "insecure": True, **PROJECT}}}}
    run_id = dagster.launch(location, [f"{prefix}_base", f"{prefix}_total"], run_config=config)
    assert dagster.wait_status(run_id, TERMINAL, 180) == "SUCCESS", dagster.logs(run_id)
    assert admin.call_count("CreateRun") - before == 1
    assert pickle.loads((home / "storage" / f"{prefix}_total").read_bytes()) == 42
    (mat,) = dagster.materializations(f"{prefix}_total")
    assert mat["runId"] == run_id and mat["metadata"]["dagster-flyte/launch"] == "launched", mat

    # The input names are still checked, at run time, before anything is launched.
    bad = dagster.launch(location, [f"{prefix}_wrong"], run_config=config, tags=NO_RETRY)
    assert dagster.wait_status(bad, TERMINAL, 180) == "FAILURE"
    assert any("zz" in m and "nothing was launched" in m for m in dagster.messages(bad)), dagster.logs(bad)
    assert admin.call_count("CreateRun") - before == 1


def test_reloading_twenty_assets_looks_up_once_per_load_then_not_at_all_with_a_snapshot(
    dagster: Deployment, lookups: DevServer, home: Path
) -> None:
    """20 Flyte assets of 2 tasks, on a backend only this location calls: every load (its code
    server's first, then each reloadRepositoryLocation) makes 1 ListTasks and 2 GetTaskDetails,
    nothing else; with a snapshot written by ``python -m flyte_dagster.snapshot``, a reload makes no
    call at all, and an asset built from it still materializes."""
    admin = lookups.admin
    per_load = {"ListTasks": 1, "GetTaskDetails": 2}

    def counts() -> dict[str, int]:  # "flyteidl2.task.TaskService/ListTasks" -> "ListTasks"
        return {method.rsplit("/", 1)[-1]: n for method, n in admin.counters().items()}

    def calls_during(action: Callable[[], Any]) -> dict[str, int]:
        before = counts()
        action()
        return {m: n - before.get(m, 0) for m, n in counts().items() if n != before.get(m, 0)}

    def reload() -> None:
        entry = dagster.reload("flyte_twenty")
        assert entry["loadStatus"] == "LOADED", entry
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry

    assert counts() == per_load  # the code server's first load; the webserver and the daemon share it
    assert calls_during(reload) == per_load
    assert calls_during(reload) == per_load

    snapshot, definitions = home / "flyte_interfaces.json", home / "code" / "flyte_twenty.py"
    refresh = subprocess.run(
        [sys.executable, "-m", "flyte_dagster.snapshot", "--out", str(snapshot), str(definitions)],
        cwd=REPO,
        env=dagster.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refresh.returncode == 0, refresh.stdout + refresh.stderr
    tasks = {i["task_name"] for i in json.loads(snapshot.read_text())["interfaces"].values()}
    assert tasks == {"sample_tasks.add", "sample_tasks.greet"}

    assert calls_during(reload) == {}
    loaded = dagster.locations()["flyte_twenty"]["locationOrLoadError"]
    keys = {"/".join(n["assetKey"]["path"]) for r in loaded["repositories"] for n in r["assetNodes"]}
    assert keys == {f"add_{i}" for i in range(10)} | {f"greet_{i}" for i in range(10)}

    # The run worker builds the definitions again from what the load recorded, calling nothing (a
    # load would add 1 ListTasks and 2 GetTaskDetails); the launch resolves "latest" itself, once.
    def materialize() -> None:
        run_id = dagster.launch("flyte_twenty", ["add_3"], tags=NO_RETRY)
        assert dagster.wait_status(run_id, TERMINAL, 180) == "SUCCESS", dagster.logs(run_id)

    during_run = calls_during(materialize)
    launch = {"ListTasks": 1, "GetTaskDetails": 1, "CreateRun": 1}
    assert {m: during_run.get(m, 0) for m in launch} == launch, during_run
    assert pickle.loads((home / "storage" / "add_3").read_bytes()) == 4


def test_processes_stay_up(dagster: Deployment) -> None:
    dead = {name: proc.returncode for name, proc in dagster.procs.items() if proc.poll() is not None}
    assert dead == {}, dagster.logs()


def _ticks(dagster: Deployment) -> list[dict[str, Any]]:
    selector = {"repositoryLocationName": "flyte_e2e", "repositoryName": "__repository__", "sensorName": SENSOR}
    result = dagster.graphql(TICKS, selector=selector)["sensorOrError"]
    assert result["__typename"] == "Sensor", result
    ticks: list[dict[str, Any]] = result["sensorState"]["ticks"]
    return ticks


def test_the_daemon_records_flyte_runs_launched_elsewhere_once_each(dagster: Deployment, flyte: DevServer) -> None:
    """build_flyte_run_sensor run by the real daemon: two runs of sample_tasks.add launched with the
    client (outside Dagster) become exactly two materializations of `observed_adds`, with their run
    names; the runs Dagster launched itself (earlier tests, `dg-` names) are not among them; later
    ticks add nothing."""
    wait_until(lambda: len(_ticks(dagster)) >= 1, 120, "the sensor's first tick", dagster)
    flyte.admin.release()  # nothing held from an earlier test
    with flyte.client() as client:
        launched = [client.run("sample_tasks.add", {"x": i, "y": 100}) for i in range(2)]
        for run in launched:
            run.wait(quiet=True, timeout=60)
            assert run.phase.value == "SUCCEEDED"
    names = sorted(r.name for r in launched)
    wait_until(lambda: len(dagster.materializations("observed_adds")) >= 2, 120, "two materializations", dagster)
    ticks_then = len(_ticks(dagster))
    wait_until(lambda: len(_ticks(dagster)) >= ticks_then + 3, 120, "three more ticks", dagster)
    mats = dagster.materializations("observed_adds")
    assert sorted(m["metadata"]["dagster-flyte/run_name"] for m in mats) == names, mats
    assert {m["metadata"]["dagster-flyte/launch"] for m in mats} == {"external"}
    assert all(t["status"] != "FAILURE" for t in _ticks(dagster)), _ticks(dagster)
    dagster_launched = {r.name for r in new_runs(flyte, "sample_tasks.add", set(names))}
    assert dagster_launched and all(n.startswith("dg-") for n in dagster_launched), dagster_launched
