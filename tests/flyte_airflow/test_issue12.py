"""Issue 12 (Airflow): clear while deferred, fast runs, one long-lived client, deadline on time."""

from __future__ import annotations

import asyncio
import time

import pytest

from flyte_airflow.hooks import flyte as hook_module
from flyte_airflow.operators.flyte import DEFERRED_RUN_KEY, FlyteRunOperator
from flyte_airflow.triggers.flyte import FlyteRunTrigger
from tests.waiting import wait_until

from .test_components import FakeTI

pytestmark = pytest.mark.timeout(120)


class Store:
    """A task_state_store as the task context gives it (survives clears)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    def set(self, key: str, value: object, **_: object) -> None:
        self.values[key] = value


def _defer(op: FlyteRunOperator, context: dict) -> FlyteRunTrigger:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, FlyteRunTrigger)
    return trigger


def test_clear_while_deferred_aborts_old_run_and_launches_fresh(flyte_conn):
    """Try 1 defers on a hanging run; the task is cleared (try 2 starts while the old trigger's
    on_kill has not run yet): try 2 must not attach; the old run ends ABORTED; 2 CreateRun."""
    admin, client = flyte_conn.admin, flyte_conn.client
    store = Store()
    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.hang", deferrable=True, wait_before_defer=0)
    first = _defer(op, {"ti": FakeTI(try_number=1), "task_state_store": store})
    assert store.values[DEFERRED_RUN_KEY]["run_name"] == first.run_name
    second = _defer(
        FlyteRunOperator(task_id="t", task_name="sample_tasks.hang", deferrable=True, wait_before_defer=0),
        {"ti": FakeTI(try_number=2), "task_state_store": store},
    )
    assert second.run_name != first.run_name
    asyncio.run(FlyteRunTrigger(**first.serialize()[1]).on_kill())  # the old trigger's on_kill, late
    wait_until(lambda: client.get_run(first.run_name).phase.value == "ABORTED", "the old try's run aborted", timeout=30)
    assert not client.get_run(second.run_name).done(), "the new try's run must survive the old trigger"
    assert admin.call_count("CreateRun") == 2
    client.get_run(second.run_name).abort("test cleanup")


def test_worker_crash_before_defer_still_attaches(flyte_conn):
    """No deferral was recorded (the worker died first): the next try attaches (1 CreateRun)."""
    store = Store()
    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.hang", deferrable=True, wait_before_defer=0)
    run = op._launch({"ti": FakeTI(try_number=1), "task_state_store": store})  # launched, then "kill -9"
    trigger = _defer(
        FlyteRunOperator(task_id="t", task_name="sample_tasks.hang", deferrable=True, wait_before_defer=0),
        {"ti": FakeTI(try_number=2), "task_state_store": store},
    )
    assert trigger.run_name == run.name
    assert flyte_conn.admin.call_count("CreateRun") == 1
    flyte_conn.client.get_run(run.name).abort("test cleanup")


def test_fast_run_completes_in_the_worker_without_deferring(flyte_conn):
    ti = FakeTI()
    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.add", inputs={"x": 1, "y": 2}, deferrable=True)
    started = time.monotonic()
    assert op.execute({"ti": ti, "task_state_store": Store()}) == {"o0": 3}  # no TaskDeferred raised
    assert time.monotonic() - started < 5
    assert ti.xcoms["o0"] == 3 and flyte_conn.admin.call_count("CreateRun") == 1
    # completing twice (a resumed try) is the same
    event = {"status": "success", "run_name": ti.xcoms["run_name"], "outputs": {"o0": 3}, "phase": "SUCCEEDED"}
    assert op.execute_complete({"ti": ti}, event) == op.execute_complete({"ti": ti}, event) == {"o0": 3}


def test_slow_run_defers_and_the_trigger_holds_its_event(flyte_conn):
    op = FlyteRunOperator(
        task_id="t", task_name="sample_tasks.sleepy", inputs={"seconds": 2.0}, deferrable=True, wait_before_defer=0.5
    )
    trigger = _defer(op, {"ti": FakeTI(), "task_state_store": Store()})
    assert trigger.not_before is not None and trigger.not_before > time.time() + 3

    async def fire() -> dict:
        events = [e async for e in trigger.run()]  # to its end: the trigger closes what it opened
        return events[0].payload

    payload = asyncio.run(fire())
    assert payload["status"] == "success" and time.time() >= trigger.not_before - 0.05


async def test_hundred_triggers_in_waves_share_one_client_and_at_most_two_streams(flyte_conn):
    admin, client = flyte_conn.admin, flyte_conn.client
    built = hook_module._SHARED.built
    admin.reset_counters()

    async def one(name: str) -> dict:
        events = [
            e async for e in FlyteRunTrigger(run_name=name, deadline=time.time() + 120).run()
        ]  # to its end: the trigger closes what it opened
        return events[0].payload

    payloads: list[dict] = []
    for wave in range(4):  # waves: the last trigger of a wave ends before the next wave starts
        names = [f"wave{wave}-{i}" for i in range(25)]
        for i, name in enumerate(names):
            await client.run.aio("sample_tasks.add", {"x": i, "y": 1}, name=name)
        payloads += await asyncio.wait_for(asyncio.gather(*(one(n) for n in names)), 60)
        await asyncio.sleep(0.5)
    assert len(payloads) == 100 and all(p["status"] == "success" for p in payloads)
    watch_streams = admin.call_count("WatchRuns")
    assert watch_streams <= 2, admin.counters()
    assert hook_module._SHARED.built - built <= 1, "the triggerer's client must outlive its triggers"
    print(f"WatchRuns streams for 100 triggers: {watch_streams}")


async def test_deadline_event_fires_on_time_even_if_abort_is_slow(flyte_conn):
    admin, client = flyte_conn.admin, flyte_conn.client
    run = await client.run.aio("sample_tasks.hang", {}, name="late-abort")
    admin.fail_next("AbortRun", "UNAVAILABLE", count=3)  # the abort is retried: slow
    deadline = time.time() + 2.0
    events = [e async for e in FlyteRunTrigger(run_name=run.name, deadline=deadline).run()]
    late = time.time() - deadline
    assert events[0].payload["status"] == "deadline"
    assert late < 3.5, f"the deadline event came {late:.1f}s after the deadline"
    print(f"deadline -> event: {late:.2f}s")
    await asyncio.sleep(0)
    admin.clear_faults()
    wait_until(lambda: client.get_run("late-abort").done(), "the retried abort landing", timeout=30)
