"""``FlyteClient.watch_runs``: every phase change of a project's runs over the shared stream.

Against the devserver, with faults caused for real (streams cut and refused through its admin
API, a backend without WatchRuns); the subscriber's bookkeeping (stale reads, retries, runs that
ended before the watch) on its own, offline.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

import pytest
from flyteidl2.common import phase_pb2
from flyteidl2.workflow import run_definition_pb2

from flyte_remote_core import FlyteClient, Phase, RunChange
from flyte_remote_core._services import _subscriber, _watcher
from tests.collecting import Collector, until

pytestmark = pytest.mark.timeout(120)


class Watch(Collector):
    """``client.watch_runs.aio(**filters)`` in a task, its changes collected."""

    def __init__(self, client: FlyteClient, **filters: Any) -> None:
        super().__init__(client.watch_runs.aio(**filters))

    @property
    def changes(self) -> list[RunChange]:
        return self.items

    def of(self, name: str) -> list[str]:
        return [c.phase.value for c in self.changes if c.name == name]


async def begin(admin: Any, client: FlyteClient, *filters: dict[str, Any]) -> list[Watch]:
    """Start the watches; return once each took its baseline (one ListRuns each)."""
    before = admin.call_count("ListRuns")
    watches = [Watch(client, **f) for f in filters]
    await until(lambda: admin.call_count("ListRuns") >= before + len(watches), "the watches beginning", *watches)
    return watches


async def done(client: FlyteClient, name: str) -> Phase:
    run = await client.get_run.aio(name)
    while not run.done():
        await asyncio.sleep(0.05)
        run = await client.get_run.aio(name)
    return run.phase


async def test_each_phase_change_once_from_the_start_filtered_and_on_one_stream(flyte_devserver: Any) -> None:
    client, admin = flyte_devserver.client, flyte_devserver.admin
    old = await client.run.aio("sample_tasks.add", {"x": 1, "y": 1})
    assert await done(client, old.name) is Phase.SUCCEEDED
    admin.reset_counters()

    everything, succeeded_adds = await begin(
        admin, client, {}, {"phases": ["succeeded"], "task_name": "sample_tasks.add"}
    )
    try:
        add = await client.run.aio("sample_tasks.add", {"x": 2, "y": 1})
        greet = await client.run.aio("sample_tasks.greet", {"name": "watch"})
        failed = await client.run.aio("sample_tasks.fail_user", {})
        await (await client.get_run.aio(add.name)).wait.aio(quiet=True, timeout=30)  # a wait rides the same stream
        for name in (greet.name, failed.name):
            await done(client, name)
        await until(
            lambda: all(
                everything.of(n)[-1:] in (["SUCCEEDED"], ["FAILED"]) for n in (add.name, greet.name, failed.name)
            ),
            "every run's last phase",
            everything,
        )
        await until(lambda: add.name in [c.name for c in succeeded_adds.changes], "the filtered watch", succeeded_adds)

        assert everything.of(old.name) == [], "a run that ended before the watch began reports nothing"
        for name, last in ((add.name, "SUCCEEDED"), (greet.name, "SUCCEEDED"), (failed.name, "FAILED")):
            phases = everything.of(name)
            assert phases[-1] == last and len(phases) == len(set(phases)), phases  # each phase once
            chain = [c for c in everything.changes if c.name == name]
            assert chain[0].previous is None and all(b.previous is a.phase for a, b in itertools.pairwise(chain))
        assert [(c.name, c.phase) for c in succeeded_adds.changes] == [(add.name, Phase.SUCCEEDED)]

        change = succeeded_adds.changes[0]
        assert (change.project, change.domain, change.task_name) == ("flytesnacks", "development", "sample_tasks.add")
        assert change.url == client.run_url(add.name) and change.attempts == 1 and change.ended_at is not None
        assert (await change.run.outputs.aio()).named == {"o0": 3}  # the run record is bound to the client
        assert change.to_dict()["phase"] == "SUCCEEDED" and change.to_dict()["run_name"] == add.name

        assert admin.call_count("WatchRuns") == 1, "two watches and a wait share one stream"
        assert admin.call_count("WatchActionDetails") == 0
    finally:
        await everything.stop()
        await succeeded_adds.stop()


async def test_a_bad_phase_is_refused_before_anything_is_sent(flyte_devserver: Any) -> None:
    flyte_devserver.admin.reset_counters()
    with pytest.raises(ValueError, match="unknown phase 'DONE'"):
        async for _ in flyte_devserver.client.watch_runs.aio(phases=["DONE"]):
            pass
    assert sum(flyte_devserver.admin.counters().values()) == 0


async def test_what_changed_while_the_stream_was_down_is_resynced_once(
    flyte_devserver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream is cut and refused while four held runs finish. The stream itself is made blind
    to them from the cut on, so only the resync can report them: a listing page of two, and a
    GetActionDetails for each run the subscription knew as active that the listing missed."""
    client, admin = flyte_devserver.client, flyte_devserver.admin
    monkeypatch.setattr(_watcher, "_LIST_PAGE", 2)
    monkeypatch.setattr(_watcher, "_RESYNC_PAGES", 1)
    blind = {"on": False}
    offer = _subscriber.Subscriber.offer

    def offer_unless_blind(self: Any, run: Any, *, resynced: bool) -> bool:
        return False if blind["on"] and not resynced else offer(self, run, resynced=resynced)

    monkeypatch.setattr(_subscriber.Subscriber, "offer", offer_unless_blind)
    admin.hold(all_new_runs=True)
    (watch,) = await begin(admin, client, {"phases": ["RUNNING", "SUCCEEDED"]})
    try:
        held = [(await client.run.aio("sample_tasks.add", {"x": i, "y": 9})).name for i in range(4)]
        await until(lambda: all(watch.of(n) == ["RUNNING"] for n in held), "the held runs running", watch)
        reads = admin.call_count("GetActionDetails")
        blind["on"] = True
        admin.fail_next("WatchRuns", "UNAVAILABLE", count=1000)
        assert admin.drop_streams("cut by the test") == 1
        admin.release_all()
        for name in held:
            assert await done(client, name) is Phase.SUCCEEDED
        admin.clear_faults()
        await until(lambda: all(watch.of(n) == ["RUNNING", "SUCCEEDED"] for n in held), "the resync", watch)
        await asyncio.sleep(1.0)  # a repeat would come with the same resync
        assert Counter(c.name for c in watch.changes if c.phase is Phase.SUCCEEDED) == Counter(held)
        assert all(c.resynced for c in watch.changes if c.phase is Phase.SUCCEEDED)
        assert admin.call_count("GetActionDetails") - reads >= 2, "runs the listing missed were read one by one"
    finally:
        admin.clear_faults()
        admin.release_all()
        await watch.stop()


async def test_a_backend_without_watch_runs_is_polled(flyte_devserver: Any) -> None:
    client, admin = flyte_devserver.client, flyte_devserver.admin
    admin.fail_next("WatchRuns", "UNIMPLEMENTED", count=1000)
    client.services.watcher().poll_interval = 0.2
    (watch,) = await begin(admin, client, {"phases": ["SUCCEEDED"]})
    try:
        run = await client.run.aio("sample_tasks.add", {"x": 5, "y": 5})
        await until(lambda: watch.of(run.name) == ["SUCCEEDED"], "the polled change", watch)
        assert watch.changes[0].resynced and admin.status()["open_streams"] == 0
    finally:
        admin.clear_faults()
        await watch.stop()


# -- the subscriber's bookkeeping, offline -----------------------------------------------------------


def _run(name: str, phase: str, attempts: int = 1, ended: float | None = None) -> run_definition_pb2.Run:
    run = run_definition_pb2.Run()
    run.action.id.run.name = name
    run.action.id.name = "a0"
    run.action.status.phase = phase_pb2.ActionPhase.Value(f"ACTION_PHASE_{phase}")
    run.action.status.attempts = attempts
    if ended is not None:
        run.action.status.end_time.FromNanoseconds(int(ended * 1e9))
    return run


async def test_the_subscriber_reports_news_only() -> None:
    now = time.time()
    sub = _subscriber.Subscriber()
    assert sub.offer(_run("early", "RUNNING"), resynced=False) is False  # held until the baseline is in
    sub.begin([_run("old", "SUCCEEDED", ended=now - 5), _run("early", "QUEUED")], now)
    taken = []
    while not sub.queue.empty():
        taken.append(sub.queue.get_nowait())
    assert [(c.run.action.id.run.name, c.phase, c.previous) for c in taken] == [("early", Phase.RUNNING, Phase.QUEUED)]

    def news(run: Any, resynced: bool = False) -> bool:
        return sub.offer(run, resynced=resynced)

    assert not news(_run("old", "SUCCEEDED", ended=now - 5), resynced=True)  # known from the baseline
    assert not news(_run("ancient", "FAILED", ended=now - 3600), resynced=True)  # ended long before the watch
    assert news(_run("fresh", "SUCCEEDED", ended=now + 1))  # first seen already done, after the start
    assert news(_run("early", "SUCCEEDED", ended=now + 2))
    assert not news(_run("early", "RUNNING"), resynced=True)  # a stale read: no step back
    assert not news(_run("early", "SUCCEEDED", ended=now + 2), resynced=True)  # no repeat
    assert news(_run("flaky", "FAILED", attempts=1, ended=now + 1))
    assert news(_run("flaky", "QUEUED", attempts=2))  # a retry starts a new attempt
    assert not news(_run("flaky", "FAILED", attempts=1, ended=now + 1), resynced=True)  # the older attempt
    assert news(_run("flaky", "SUCCEEDED", attempts=2, ended=now + 3))
    assert sub.active() == []
