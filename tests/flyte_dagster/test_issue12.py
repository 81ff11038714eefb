"""Issue 12: run retries reattach, definitions load without a backend, one batched lookup per load."""

from __future__ import annotations

import json
import types

import dagster as dg
import pytest

from flyte_dagster import FlyteResource, build_flyte_asset, clear_interface_cache

from .helpers import create_runs

pytestmark = pytest.mark.timeout(120)


# -- f. the run name survives a run retry ----------------------------------------------------------


def _op_ctx(run_id: str, root: str | None, tags: dict[str, str]) -> object:
    return types.SimpleNamespace(run_id=run_id, run=types.SimpleNamespace(root_run_id=root, tags=tags))


def test_run_retry_names_its_work_after_the_root_run():
    from flyte_dagster._resource import _work_run_id

    assert _work_run_id(_op_ctx("r1", None, {})) == "r1"
    # the run-retry daemon's new run: same work, same Flyte run name
    assert _work_run_id(_op_ctx("r2", "r1", {"dagster/retry_number": "1"})) == "r1"
    # a manual re-execution asks for new work
    assert _work_run_id(_op_ctx("r3", "r1", {"dagster/parent_run_id": "r1"})) == "r3"


def test_run_retry_reattaches_to_the_first_runs_flyte_run(flyte_devserver, flyte, monkeypatch):
    """Two real materializations: the first run, then its run retry (a new run id whose work id is
    the root run's, as _work_run_id gives it): 1 CreateRun, the retry reuses the first's run."""
    import flyte_dagster._resource as resource_module

    admin = flyte_devserver.admin
    asset = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": 1, "y": 2}, resource=flyte)
    with dg.instance_for_test() as instance:
        first = dg.materialize([asset], resources={"flyte": flyte}, instance=instance)
        assert first.success and create_runs(admin) == 1
        monkeypatch.setattr(resource_module, "_work_run_id", lambda op_ctx: first.run_id)
        retry = dg.materialize([asset], resources={"flyte": flyte}, instance=instance)
        assert retry.success and retry.run_id != first.run_id
        assert create_runs(admin) == 1, "a run retry must reuse/attach, not launch again"
        mat = retry.asset_materializations_for_node("total")[0]
        assert mat.metadata["dagster-flyte/launch"].value == "reused"


# -- g. definitions load with no backend --------------------------------------------------------


def test_asset_loads_without_backend_and_checks_inputs_before_launch(flyte_devserver, flyte, monkeypatch):
    for var in ("FLYTE_ENDPOINT", "FLYTE_API_KEY"):
        monkeypatch.delenv(var, raising=False)

    @dg.asset
    def base() -> int:
        return 40

    # No resource, no FLYTE_ENDPOINT: the definition cannot look the task up, and loads anyway.
    total = build_flyte_asset("sample_tasks.add", key="total", ins={"x": "base"}, inputs={"y": 2})
    defs = dg.Definitions(assets=[base, total], resources={"flyte": flyte})
    assert defs.resolve_asset_graph() is not None
    assert create_runs(flyte_devserver.admin) == 0
    result = dg.materialize([base, total], resources={"flyte": flyte})
    assert result.success
    assert result.output_for_node("total", "result") == 42
    assert create_runs(flyte_devserver.admin) == 1

    clear_interface_cache()
    wrong = build_flyte_asset("sample_tasks.add", key="wrong", inputs={"x": 1, "zz": 2})
    bad = dg.materialize([wrong], resources={"flyte": flyte}, raise_on_error=False)
    assert not bad.success
    failure = next(e for e in bad.all_events if e.is_step_failure)
    assert "zz" in str(failure.event_specific_data.error)
    assert create_runs(flyte_devserver.admin) == 1, "a bad input name must launch nothing"


def test_lazy_interface_is_explicit_too(flyte_devserver, flyte):
    asset = build_flyte_asset("sample_tasks.add", key="t", inputs={"x": 1, "y": 1}, interface="lazy", resource=flyte)
    assert flyte_devserver.admin.call_count("ListTasks") == 0
    assert dg.materialize([asset], resources={"flyte": flyte}).output_for_node("t", "result") == 2


# -- h. one batched lookup per load, none with a snapshot ------------------------------------------


def _twenty(flyte: FlyteResource) -> list[dg.AssetsDefinition]:
    return [
        build_flyte_asset("sample_tasks.add", key=f"a{i}", inputs={"x": i, "y": 1}, resource=flyte) for i in range(10)
    ] + [build_flyte_asset("sample_tasks.greet", key=f"g{i}", inputs={"name": "x"}, resource=flyte) for i in range(10)]


def test_twenty_assets_do_one_listing_per_load(flyte_devserver, flyte):
    admin = flyte_devserver.admin
    admin.reset_counters()
    _twenty(flyte)
    assert admin.call_count("ListTasks") == 1, admin.counters()
    # GetTaskDetails once per distinct task (ListTasks carries no interfaces), not once per asset
    assert admin.call_count("GetTaskDetails") == 2, admin.counters()


def test_snapshot_file_means_no_lookup_at_load(flyte_devserver, flyte, monkeypatch, tmp_path):
    from flyte_dagster._interface import SNAPSHOT_ENV, write_snapshot

    admin = flyte_devserver.admin
    _twenty(flyte)
    path = tmp_path / "interfaces.json"
    assert write_snapshot(str(path)) == 2
    assert {i["task_name"] for i in json.loads(path.read_text())["interfaces"].values()} == {
        "sample_tasks.add",
        "sample_tasks.greet",
    }
    clear_interface_cache()
    monkeypatch.setenv(SNAPSHOT_ENV, str(path))
    admin.reset_counters()
    assets = _twenty(flyte)
    assert admin.counters().get("ListTasks", 0) == 0 and admin.counters().get("GetTaskDetails", 0) == 0
    assert dg.materialize(assets[:1], resources={"flyte": flyte}).success
