"""FlyteRunEventTrigger (issue 15): one event per Flyte run that reaches a phase, for AssetWatchers.

The trigger's ``run()`` runs here against a real devserver, as the triggerer would run it (without
Airflow's shared-stream manager: triggers of one event loop still share the core's WatchRuns
stream). Runs are launched with the core's blocking client in a thread (its own loop and channel),
outside Airflow. Faults are real: streams cut by the devserver's admin API, the devserver itself
stopped and started again on the same port and data directory.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from flyte_airflow.triggers.flyte import FlyteRunEventTrigger
from tests.collecting import Collector, until

from .conftest import connection_json

pytestmark = pytest.mark.timeout(120)

TRIGGER_PATH = "flyte_airflow.triggers.flyte.FlyteRunEventTrigger"


class Watch(Collector):
    """A trigger's ``run()`` in a task, its event payloads collected as they come."""

    def __init__(self, trigger: FlyteRunEventTrigger) -> None:
        self.trigger = trigger
        super().__init__(trigger.run(), keep=lambda event: event.payload)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.items

    def names(self) -> list[str]:
        return [e["run_name"] for e in self.events]


async def start(admin: Any, *watches_of: FlyteRunEventTrigger) -> list[Watch]:
    """Start the triggers; return once each has taken its baseline (one ListRuns each), so runs
    launched afterwards come after the watch began."""
    before = admin.call_count("ListRuns")
    watches = [Watch(t) for t in watches_of]
    await until(lambda: admin.call_count("ListRuns") >= before + len(watches), "the watches beginning", *watches)
    return watches


async def launch(client: Any, task: str, inputs: dict[str, Any]) -> str:
    """Launch a run with the core client, outside Airflow (blocking client, in a thread)."""
    run = await asyncio.to_thread(client.run, task, inputs)
    return str(run.name)


async def finished(client: Any, name: str, within: float = 45.0) -> str:
    """Poll the run (unary reads, no watch stream) until it is terminal; its phase."""
    deadline = time.monotonic() + within
    while True:
        run = await asyncio.to_thread(client.get_run, name)
        if run.done():
            return str(run.phase.value)
        if time.monotonic() > deadline:
            raise AssertionError(f"run {name} did not finish within {within} s")
        await asyncio.sleep(0.1)


async def sentinel(client: Any, *watches: Watch) -> str:
    """Launch one more run every watch fires for and wait for its event: what was due earlier
    (a duplicate included) has arrived by then."""
    name = await launch(client, "sample_tasks.add", {"x": 100, "y": 1})
    await until(lambda: all(name in w.names() for w in watches), f"the sentinel run {name}", *watches)
    return name


# -- arguments, offline ------------------------------------------------------------------------


def test_arguments_are_checked_and_serialize_round_trips() -> None:
    from airflow.sdk import Asset, AssetWatcher
    from airflow.triggers.base import BaseEventTrigger

    trigger = FlyteRunEventTrigger(
        flyte_conn_id="flyte_prod",
        project="ml",
        domain="staging",
        task_name="tasks.train",
        phases=["succeeded", "FAILED"],
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_PATH
    assert kwargs == {
        "flyte_conn_id": "flyte_prod",
        "project": "ml",
        "domain": "staging",
        "task_name": "tasks.train",
        "phases": ["SUCCEEDED", "FAILED"],  # canonical names, a list (watchers with equal kwargs merge)
    }
    again = FlyteRunEventTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*again.serialize())

    default = FlyteRunEventTrigger()
    assert default.serialize()[1] == {
        "flyte_conn_id": "flyte_default",
        "project": None,
        "domain": None,
        "task_name": None,
        "phases": ["SUCCEEDED"],
    }
    assert FlyteRunEventTrigger(phases="aborted").phases == ("ABORTED",)
    assert FlyteRunEventTrigger(phases=("FAILED", "failed")).phases == ("FAILED",)

    # One shared stream per connection, project and domain, whatever the task and phases.
    assert (
        trigger.shared_stream_key()
        == FlyteRunEventTrigger(
            flyte_conn_id="flyte_prod", project="ml", domain="staging", phases=["ABORTED"]
        ).shared_stream_key()
    )
    assert (
        trigger.shared_stream_key()
        != FlyteRunEventTrigger(flyte_conn_id="flyte_prod", project="ml").shared_stream_key()
    )

    with pytest.raises(ValueError, match="unknown phase 'SUCCEDED'"):
        FlyteRunEventTrigger(phases=["SUCCEEDED", "SUCCEDED"])
    with pytest.raises(ValueError, match="unknown phase 'UNSPECIFIED'"):
        FlyteRunEventTrigger(phases=["UNSPECIFIED"])
    with pytest.raises(ValueError, match="unknown phase 5"):
        FlyteRunEventTrigger(phases=[5])
    with pytest.raises(ValueError, match="at least one phase"):
        FlyteRunEventTrigger(phases=[])
    with pytest.raises(ValueError, match="task_name"):
        FlyteRunEventTrigger(task_name="")
    with pytest.raises(ValueError, match="flyte_conn_id"):
        FlyteRunEventTrigger(flyte_conn_id="")
    with pytest.raises(ValueError, match="project"):
        FlyteRunEventTrigger(project=3)  # type: ignore[arg-type]

    # Usable where Airflow wants an event trigger.
    asset = Asset("flyte_runs", watchers=[AssetWatcher(name="flyte_runs_watcher", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


# -- against the devserver ----------------------------------------------------------------------


async def test_one_event_per_run_that_succeeds_after_the_watch_began(flyte_conn) -> None:
    client, admin = flyte_conn.client, flyte_conn.admin
    before = [await launch(client, "sample_tasks.add", {"x": i, "y": 1}) for i in range(2)]
    for name in before:
        assert await finished(client, name) == "SUCCEEDED"

    (watch,) = await start(admin, FlyteRunEventTrigger())
    try:
        launched = [await launch(client, "sample_tasks.add", {"x": i, "y": 2}) for i in range(3)]
        await until(lambda: set(launched) <= set(watch.names()), "an event for each launched run", watch)
        last = await sentinel(client, watch)

        assert Counter(watch.names()) == Counter([*launched, last]), "exactly one event per run, none before"
        for payload in watch.events:
            name = payload["run_name"]
            assert payload["phase"] == "SUCCEEDED"
            assert payload["url"] == client.run_url(name) and name in payload["url"]
            assert payload["task_name"] == "sample_tasks.add"
            assert (payload["project"], payload["domain"]) == ("flytesnacks", "development")
            assert payload["ended_at"] and payload["attempts"] == 1
    finally:
        await watch.stop()


async def test_task_filter_and_failed_only_when_asked(flyte_conn) -> None:
    client, admin = flyte_conn.client, flyte_conn.admin
    adds, failures, all_failures = await start(
        admin,
        FlyteRunEventTrigger(task_name="sample_tasks.add"),  # SUCCEEDED only, one task
        FlyteRunEventTrigger(phases=["FAILED"]),  # every task
        FlyteRunEventTrigger(phases=["SUCCEEDED", "FAILED"], task_name="sample_tasks.fail_user"),
    )
    watches = (adds, failures, all_failures)
    try:
        add_runs = [await launch(client, "sample_tasks.add", {"x": i, "y": 3}) for i in range(2)]
        greet = await launch(client, "sample_tasks.greet", {"name": "events"})
        failed = await launch(client, "sample_tasks.fail_user", {"message": "on purpose"})
        assert await finished(client, greet) == "SUCCEEDED"
        assert await finished(client, failed) == "FAILED"
        await until(lambda: set(add_runs) <= set(adds.names()), "the add runs' events", *watches)
        await until(lambda: failed in failures.names() and failed in all_failures.names(), "the failure", *watches)
        # A second failure marks the end for the FAILED watchers, as the sentinel does for the other.
        failed_too = await launch(client, "sample_tasks.fail_user", {"message": "again"})
        await until(lambda: failed_too in failures.names() and failed_too in all_failures.names(), "again", *watches)
        last = await sentinel(client, adds)

        assert Counter(adds.names()) == Counter([*add_runs, last])  # not greet's, not the failures
        assert Counter(failures.names()) == Counter([failed, failed_too])  # no success fires
        assert Counter(all_failures.names()) == Counter([failed, failed_too])
        assert {e["phase"] for e in failures.events} == {"FAILED"}
        assert {e["task_name"] for e in all_failures.events} == {"sample_tasks.fail_user"}
    finally:
        for watch in watches:
            await watch.stop()


async def test_two_triggers_on_one_connection_project_and_domain_share_one_stream(flyte_conn) -> None:
    client, admin = flyte_conn.client, flyte_conn.admin
    admin.reset_counters()
    first, second = await start(
        admin, FlyteRunEventTrigger(task_name="sample_tasks.add"), FlyteRunEventTrigger(phases=["SUCCEEDED", "FAILED"])
    )
    try:
        launched = [await launch(client, "sample_tasks.add", {"x": i, "y": 4}) for i in range(2)]
        await until(lambda: all(set(launched) <= set(w.names()) for w in (first, second)), "both fire", first, second)
        assert Counter(first.names()) == Counter(launched) == Counter(second.names())
        assert admin.call_count("WatchRuns") == 1, "two triggers, one connection/project/domain: one stream"
        assert admin.status()["open_streams"] == 1
    finally:
        await first.stop()
        await second.stop()


async def test_a_cut_stream_while_runs_finish_loses_and_repeats_nothing(flyte_conn) -> None:
    """The stream is cut and stays down (WatchRuns refused) while three runs finish; on reconnect
    the resync (ListRuns) reports each once, and runs the watch saw finish before are not repeated."""
    client, admin = flyte_conn.client, flyte_conn.admin
    (watch,) = await start(admin, FlyteRunEventTrigger(phases=["SUCCEEDED", "FAILED"]))
    try:
        early = await launch(client, "sample_tasks.add", {"x": 0, "y": 5})
        await until(lambda: early in watch.names(), "the run before the cut", watch)
        admin.hold(all_new_runs=True)
        held = [await launch(client, "sample_tasks.add", {"x": i, "y": 5}) for i in range(1, 4)]
        for name in held:
            await until(lambda n=name: client.get_run(n).phase.value == "RUNNING", f"{name} running", watch)

        lists_before = admin.call_count("ListRuns")
        admin.fail_next("WatchRuns", "UNAVAILABLE", count=1000)  # no reconnect succeeds for now
        assert admin.drop_streams("cut by the test") == 1
        admin.release_all()
        for name in held:
            assert await finished(client, name) == "SUCCEEDED"
        assert not set(held) & set(watch.names()), "nothing could have been seen while the stream was down"
        admin.clear_faults()  # the next reconnect succeeds

        await until(lambda: set(held) <= set(watch.names()), "the runs that finished during the cut", watch)
        last = await sentinel(client, watch)
        assert Counter(watch.names()) == Counter([early, *held, last]), "each run exactly once"
        assert admin.call_count("ListRuns") > lists_before, "the reconnect resynced through ListRuns"
    finally:
        admin.clear_faults()
        admin.release_all()
        await watch.stop()


async def test_a_devserver_restart_while_runs_finish_loses_and_repeats_nothing(tmp_path, monkeypatch) -> None:
    """The backend stops under the watch with a run in flight and starts again on the same port and
    data: the run the restart ended (FAILED) fires once, the run from before is not repeated, and a
    run launched on the new process fires once."""
    from flyte_remote_core.devserver import DevServer

    first = DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path)
    await asyncio.to_thread(first.start)
    port = first.port
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(first.endpoint))
    client = first.client()
    second: DevServer | None = None
    watch: Watch | None = None
    try:
        (watch,) = await start(first.admin, FlyteRunEventTrigger(phases=["SUCCEEDED", "FAILED"]))
        done_before = await launch(client, "sample_tasks.add", {"x": 1, "y": 6})
        in_flight = await launch(client, "sample_tasks.sleepy", {"seconds": 60})
        await until(lambda: done_before in watch.names(), "the run before the restart", watch)
        await until(lambda: client.get_run(in_flight).phase.value == "RUNNING", "the long run running", watch)

        await asyncio.to_thread(first.stop)
        second = DevServer(tasks=["tests.devserver.sample_tasks"], port=port, data_dir=tmp_path)
        await asyncio.to_thread(second.start)

        await until(lambda: in_flight in watch.names(), "the run the restart ended", watch)
        after = await launch(client, "sample_tasks.add", {"x": 2, "y": 6})
        await until(lambda: after in watch.names(), "the run on the new process", watch)
        last = await sentinel(client, watch)

        assert Counter(watch.names()) == Counter([done_before, in_flight, after, last]), "each run exactly once"
        phases = {e["run_name"]: e["phase"] for e in watch.events}
        assert phases[in_flight] == "FAILED" and phases[done_before] == phases[after] == "SUCCEEDED"
    finally:
        if watch is not None:
            await watch.stop()
        client.close()
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)
