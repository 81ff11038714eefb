"""``build_flyte_run_sensor`` against real runs on the devserver, launched outside Dagster with the core client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from flyte_dagster import FlyteResource, FlyteTaskComponent, build_flyte_asset, build_flyte_run_sensor

from .helpers import scaffold_flyte_component

pytestmark = pytest.mark.timeout(120)


def _tick(
    sensor: dg.SensorDefinition, flyte: FlyteResource, cursor: str | None, instance: dg.DagsterInstance | None = None
) -> dg.SensorResult:
    """One evaluation of the sensor, with the resource set up by Dagster for it."""
    with dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(), cursor=cursor, resources={"flyte": flyte}
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert result.cursor is not None
    return result


def _materializations(result: dg.SensorResult) -> list[dg.AssetMaterialization]:
    events = list(result.asset_events)
    assert all(isinstance(e, dg.AssetMaterialization) for e in events), events
    return events  # type: ignore[return-value]


def _run_names(result: dg.SensorResult) -> list[str]:
    return [str(e.metadata["dagster-flyte/run_name"].value) for e in _materializations(result)]


def _external_run(client: Any, task: str, inputs: dict[str, Any]) -> Any:
    """A run launched directly with the core client (as the console or CLI would), waited for."""
    run = client.run(task, inputs)
    run.wait(quiet=True, timeout=60)
    return run


def test_first_tick_sets_the_cursor_and_each_later_external_run_is_recorded_once(flyte_devserver, flyte):
    client = flyte_devserver.client
    past = _external_run(client, "sample_tasks.add", {"x": 1, "y": 1})
    sensor = build_flyte_run_sensor("total", "sample_tasks.add")
    assert sensor.name == "flyte_runs_total" and sensor.minimum_interval_seconds == 30

    first = _tick(sensor, flyte, None)
    assert _materializations(first) == []  # the run that ended before the first tick is not reported
    assert first.skip_reason is not None
    assert past.name in json.loads(first.cursor or "")["seen"]

    runs = [_external_run(client, "sample_tasks.add", {"x": i, "y": 10}) for i in range(2)]
    second = _tick(sensor, flyte, first.cursor)
    events = _materializations(second)
    assert sorted(_run_names(second)) == sorted(r.name for r in runs)
    for event in events:
        assert event.asset_key == dg.AssetKey("total")
        meta = event.metadata
        name = meta["dagster-flyte/run_name"].value
        url = meta["dagster-flyte/run_url"]
        assert isinstance(url, dg.UrlMetadataValue) and url.url == client.get_run(name).url
        assert meta["dagster-flyte/phase"].value == "SUCCEEDED"
        assert meta["dagster-flyte/task"].value == "sample_tasks.add"
        assert meta["dagster-flyte/launch"].value == "external"
        assert meta["dagster-flyte/outputs"].value in ({"o0": 10}, {"o0": 11})
    outputs = {e.metadata["dagster-flyte/run_name"].value: e.metadata["dagster-flyte/outputs"].value for e in events}
    assert outputs == {runs[0].name: {"o0": 10}, runs[1].name: {"o0": 11}}

    third = _tick(sensor, flyte, second.cursor)  # nothing new: nothing again
    assert _materializations(third) == []
    assert third.skip_reason is not None


def test_runs_launched_by_a_flyte_dagster_asset_are_not_counted_twice(flyte_devserver, flyte):
    client = flyte_devserver.client
    sensor = build_flyte_run_sensor("total", "sample_tasks.add")
    cursor = _tick(sensor, flyte, None).cursor

    total = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": 2, "y": 3}, resource=flyte)
    result = dg.materialize([total], resources={"flyte": flyte})
    assert result.success
    (dagster_mat,) = result.get_asset_materialization_events()
    dagster_run = str(dagster_mat.materialization.metadata["dagster-flyte/run_name"].value)
    assert client.get_run(dagster_run).phase.value == "SUCCEEDED"  # a real run the sensor could see
    external = _external_run(client, "sample_tasks.add", {"x": 4, "y": 5})

    listed = {r.name for r in client.list_runs(task_name="sample_tasks.add")}
    assert {dagster_run, external.name} <= listed
    tick = _tick(sensor, flyte, cursor)
    assert _run_names(tick) == [external.name]  # exactly one: the Dagster-launched run is left out
    assert _materializations(_tick(sensor, flyte, tick.cursor)) == []


def test_a_failed_run_is_reported_only_when_failed_is_in_phases(flyte_devserver, flyte):
    client = flyte_devserver.client
    default = build_flyte_run_sensor("checked", "sample_tasks.fail_user")
    with_failed = build_flyte_run_sensor(
        "checked", "sample_tasks.fail_user", phases=("succeeded", "FAILED"), name="checked_with_failures"
    )
    cursors = {s.name: _tick(s, flyte, None).cursor for s in (default, with_failed)}

    failed = client.run("sample_tasks.fail_user", {"message": "no good"})
    failed.wait(quiet=True, timeout=60)
    assert failed.phase.value == "FAILED"

    assert _materializations(_tick(default, flyte, cursors[default.name])) == []
    tick = _tick(with_failed, flyte, cursors[with_failed.name])
    (event,) = _materializations(tick)
    assert event.metadata["dagster-flyte/run_name"].value == failed.name
    assert event.metadata["dagster-flyte/phase"].value == "FAILED"
    error = str(event.metadata["dagster-flyte/error"].value)
    assert "no good" in error and "USER" in error
    assert "dagster-flyte/outputs" not in event.metadata
    assert _materializations(_tick(with_failed, flyte, tick.cursor)) == []


def test_only_runs_of_the_named_task_are_reported(flyte_devserver, flyte):
    client = flyte_devserver.client
    sensor = build_flyte_run_sensor(["flyte", "greeting"], "sample_tasks.greet")
    cursor = _tick(sensor, flyte, None).cursor
    _external_run(client, "sample_tasks.add", {"x": 1, "y": 2})
    greeted = _external_run(client, "sample_tasks.greet", {"name": "Ada"})
    tick = _tick(sensor, flyte, cursor)
    (event,) = _materializations(tick)
    assert event.asset_key == dg.AssetKey(["flyte", "greeting"])
    assert event.metadata["dagster-flyte/run_name"].value == greeted.name
    assert event.metadata["dagster-flyte/outputs"].value == {"o0": "Hello, Ada!"}


def test_the_cursor_alone_carries_progress_across_restarts(flyte_devserver, flyte, tmp_path):
    """A new sensor object, resource and instance (a restarted daemon) resume from the stored cursor."""
    client = flyte_devserver.client
    home = tmp_path / "dagster"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        cursor = _tick(build_flyte_run_sensor("total", "sample_tasks.add"), flyte, None, instance).cursor
        first = _external_run(client, "sample_tasks.add", {"x": 1, "y": 2})
        tick = _tick(build_flyte_run_sensor("total", "sample_tasks.add"), flyte, cursor, instance)
        assert _run_names(tick) == [first.name]
        # The daemon stores each tick's events; here, record them as it would.
        for event in _materializations(tick):
            instance.report_runless_asset_event(event)
        latest = instance.get_latest_materialization_event(dg.AssetKey("total"))
        assert latest is not None and latest.asset_materialization is not None
        assert latest.asset_materialization.metadata["dagster-flyte/run_name"].value == first.name

    restarted = FlyteResource(endpoint=flyte_devserver.endpoint, insecure=True)
    second = _external_run(client, "sample_tasks.add", {"x": 3, "y": 4})
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        sensor = build_flyte_run_sensor("total", "sample_tasks.add")
        # the daemon's way of evaluating a tick (resources set up by Dagster, not passed in)
        with dg.build_sensor_context(instance=instance, cursor=tick.cursor, resources={"flyte": restarted}) as context:
            data = sensor.evaluate_tick(context)
        names = [e.metadata["dagster-flyte/run_name"].value for e in data.asset_events]
        assert names == [second.name]  # the first run is not reported again
        assert data.cursor is not None and second.name in json.loads(data.cursor)["seen"]


def test_a_cursor_set_to_a_time_reports_the_runs_that_ended_after_it(flyte_devserver, flyte):
    client = flyte_devserver.client
    before = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    runs = [_external_run(client, "sample_tasks.add", {"x": i, "y": 0}) for i in range(2)]
    sensor = build_flyte_run_sensor("total", "sample_tasks.add")
    tick = _tick(sensor, flyte, before)
    assert _run_names(tick) == [r.name for r in runs]  # oldest end first
    later = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    assert _materializations(_tick(sensor, flyte, str(later))) == []  # epoch seconds work as well
    with pytest.raises(dg.DagsterInvariantViolationError, match="neither this sensor's cursor nor a time"):
        _tick(sensor, flyte, "not a cursor")


@pytest.mark.parametrize(
    ("kwargs", "argument", "detail"),
    [
        ({"phases": ("SUCCEDED",)}, "phases", "unknown phase 'SUCCEDED'"),
        ({"phases": ("RUNNING",)}, "phases", "RUNNING is not a phase a run ends in"),
        ({"phases": ()}, "phases", "at least one phase"),
        ({"phases": (1.5,)}, "phases", "is not a phase name"),
        ({"task_name": ""}, "task_name", "non-empty string"),
        ({"asset_key": 3}, "asset_key", "expected an AssetKey"),
        ({"project": ""}, "project", "non-empty string"),
        ({"domain": 7}, "domain", "non-empty string"),
        ({"resource_key": "my-flyte"}, "resource_key", "Python identifier"),
        ({"minimum_interval_seconds": 0}, "minimum_interval_seconds", ">= 1"),
        ({"minimum_interval_seconds": 2.5}, "minimum_interval_seconds", ">= 1"),
        ({"name": "my sensor"}, "name", "letters, digits and underscores"),
    ],
)
def test_arguments_are_checked_up_front_and_named(kwargs, argument, detail):
    args = {"asset_key": "total", "task_name": "sample_tasks.add", **kwargs}
    with pytest.raises(dg.DagsterInvalidDefinitionError) as info:
        build_flyte_run_sensor(**args)
    assert f"{argument}=" in str(info.value) and detail in str(info.value)


def test_phases_accept_a_single_name_any_case_and_phase_members():
    from flyte_remote_core import Phase

    sensor = build_flyte_run_sensor("total", "sample_tasks.add", phases="failed", minimum_interval_seconds=5)
    assert sensor.metadata["dagster-flyte/phases"].value == "FAILED"
    sensor = build_flyte_run_sensor("total", "sample_tasks.add", phases=[Phase.TIMED_OUT, "ACTION_PHASE_ABORTED"])
    assert sensor.metadata["dagster-flyte/phases"].value == "ABORTED, TIMED_OUT"
    assert sensor.minimum_interval_seconds == 30


def test_component_declares_sensors_in_yaml(flyte_devserver):
    client = flyte_devserver.client
    with create_defs_folder_sandbox() as sandbox:
        defs_path = scaffold_flyte_component(
            sandbox,
            {
                "task": "sample_tasks.add",
                "key": "flyte/total",
                "inputs": {"x": 1, "y": 2},
                "interface": {"inputs": {"x": "int", "y": "int"}, "outputs": ["o0"]},
                "connection": {"endpoint": flyte_devserver.endpoint, "insecure": True},
                "sensors": [
                    {"minimum_interval_seconds": 60},
                    {
                        "name": "greetings",
                        "asset_key": "flyte/greeting",
                        "task_name": "sample_tasks.greet",
                        "phases": ["SUCCEEDED", "FAILED"],
                        "running": True,
                    },
                ],
            },
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, FlyteTaskComponent)
            totals = defs.resolve_sensor_def("flyte_runs_flyte__total")
            greetings = defs.resolve_sensor_def("greetings")
            assert totals.minimum_interval_seconds == 60
            assert totals.default_status == dg.DefaultSensorStatus.STOPPED
            assert greetings.default_status == dg.DefaultSensorStatus.RUNNING
            assert greetings.metadata["dagster-flyte/phases"].value == "SUCCEEDED, FAILED"

            # ticks use the resource the component binds from `connection`
            bound = (defs.resources or {})["flyte"]
            assert isinstance(bound, FlyteResource) and bound.endpoint == flyte_devserver.endpoint
            cursors = {s.name: _tick(s, bound, None).cursor for s in (totals, greetings)}
            added = _external_run(client, "sample_tasks.add", {"x": 5, "y": 6})
            greeted = _external_run(client, "sample_tasks.greet", {"name": "Bo"})
            tick = _tick(totals, bound, cursors[totals.name])
            (event,) = _materializations(tick)
            assert event.asset_key == dg.AssetKey(["flyte", "total"])
            assert event.metadata["dagster-flyte/run_name"].value == added.name
            (event,) = _materializations(_tick(greetings, bound, cursors[greetings.name]))
            assert event.asset_key == dg.AssetKey(["flyte", "greeting"])
            assert event.metadata["dagster-flyte/run_name"].value == greeted.name


def test_component_rejects_a_bad_phase_at_load():
    with create_defs_folder_sandbox() as sandbox:
        defs_path = scaffold_flyte_component(
            sandbox,
            {
                "task": "sample_tasks.add",
                "inputs": {"x": 1, "y": 2},
                "interface": {"inputs": {"x": "int", "y": "int"}, "outputs": ["o0"]},
                "sensors": [{"phases": ["DONE"]}],
            },
        )
        with pytest.raises(Exception) as info:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
    causes = []
    error: BaseException | None = info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(
        isinstance(e, dg.DagsterInvalidDefinitionError)
        and "phases=['DONE']" in str(e)
        and "unknown phase 'DONE'" in str(e)
        for e in causes
    ), causes


def test_the_names_flyte_dagster_gives_its_runs_are_recognised_and_no_others():
    from flyte_dagster._sensor import launched_by_flyte_dagster
    from flyte_remote_core import deterministic_run_name

    for attempt in (1, 2, 9, 10, 123):
        assert launched_by_flyte_dagster(deterministic_run_name(f"dagster/r1/step//t/{attempt}", attempt, prefix="dg"))
    assert not launched_by_flyte_dagster(deterministic_run_name("airflow/dag/task", 1, prefix="af"))
    assert not launched_by_flyte_dagster(deterministic_run_name("k", 1))  # the core's default prefix, "r"
    assert not launched_by_flyte_dagster("dg-nightly-1")  # a hand-picked name: counted as external
    assert not launched_by_flyte_dagster("rjvbd6ldrwm2h5rxrghg")  # a backend-generated name


def test_a_backlog_is_reported_over_several_ticks_oldest_first_without_repeats(flyte_devserver, flyte, monkeypatch):
    import flyte_dagster._sensor as sensor_module

    monkeypatch.setattr(sensor_module, "MAX_EVENTS_PER_TICK", 2)
    client = flyte_devserver.client
    sensor = build_flyte_run_sensor("total", "sample_tasks.add")
    cursor = _tick(sensor, flyte, None).cursor
    runs = [_external_run(client, "sample_tasks.add", {"x": i, "y": 100}) for i in range(5)]
    reported: list[str] = []
    for expected in (2, 2, 1, 0):
        tick = _tick(sensor, flyte, cursor)
        assert len(tick.asset_events) == expected
        reported += _run_names(tick)
        cursor = tick.cursor
    assert reported == [r.name for r in runs]
