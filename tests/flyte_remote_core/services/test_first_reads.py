"""A wait's first read goes through its stream's queue: many new waits are read from ListRuns
pages instead of one GetActionDetails each, what a listing misses is read run by run, and a
failed listing is tried again. Real devserver, real gRPC, counts read from the server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flyte_remote_core import FlyteClient, Phase
from flyte_remote_core._services._first_reads import LIST_FROM

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(tmp_path):
    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path, workers=2) as srv:
        yield srv


async def _launch(client: FlyteClient, n: int) -> list[Any]:
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> Any:
        async with sem:
            return await client.run.aio("sample_tasks.add", {"x": i, "y": 1})

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _ended(client: FlyteClient, n: int) -> list[Any]:
    runs = await _launch(client, n)
    for run in runs:
        await run.wait.aio(quiet=True, timeout=60)
    return runs


def _fresh_waits(server: Any, runs: list[Any]) -> Any:
    """Wait on ``runs`` from a new client (a cold stream: every wait needs its first read)."""

    async def main() -> tuple[list[Any], dict[str, int]]:
        async with FlyteClient(server.endpoint, insecure=True) as client:
            fetched = await asyncio.gather(*(client.get_run.aio(r.name) for r in runs))
            server.admin.reset_counters()  # count the waits' reads only
            done = await asyncio.gather(*(r.wait.aio(quiet=True, timeout=60) for r in fetched))
            return done, server.admin.counters()

    return asyncio.run(main())


def _count(counters: dict[str, int], method: str) -> int:
    return sum(v for k, v in counters.items() if k.endswith("/" + method))


def test_many_new_waits_on_active_runs_are_read_from_list_pages(server) -> None:
    n = 150
    assert n >= LIST_FROM

    async def main() -> tuple[list[Phase], list[bool], dict[str, int]]:
        async with FlyteClient(server.endpoint, insecure=True) as client:
            server.admin.hold(all_new_runs=True)
            runs = await _launch(client, n)
            server.admin.reset_counters()
            waits = [asyncio.ensure_future(r.wait.aio(quiet=True, timeout=60)) for r in runs]
            await asyncio.sleep(2.0)  # every first read done: the runs are RUNNING, no wait may end
            pending = [not w.done() for w in waits]
            counters = server.admin.counters()
            server.admin.release_all()
            done = await asyncio.gather(*waits)
            return [r.phase for r in done], pending, counters

    phases, pending, counters = asyncio.run(main())
    assert all(pending), "a first read that saw RUNNING ended a wait"
    assert phases == [Phase.SUCCEEDED] * n
    assert _count(counters, "GetActionDetails") == 0, counters
    assert 1 <= _count(counters, "ListRuns") <= 2, counters  # 150 runs: one page of 200 (two if a run raced in)


def test_runs_that_ended_before_their_waits_are_seen_from_the_listing(server) -> None:
    n = 250  # more than the stream's first message tells (100 runs)
    with server.client() as client:
        runs = asyncio.run(_ended(client, n))
    done, counters = _fresh_waits(server, runs)
    assert [r.phase for r in done] == [Phase.SUCCEEDED] * n
    assert _count(counters, "GetActionDetails") == 0, counters


def test_runs_the_listing_does_not_reach_are_read_one_by_one(server) -> None:
    """The waited runs ended long ago; 200 newer active runs fill the listing's first page."""
    old_n = LIST_FROM + 6
    with server.client() as client:
        old = asyncio.run(_ended(client, old_n))
        server.admin.hold(all_new_runs=True)
        asyncio.run(_launch(client, 200))  # listed first (active, newer): the page reaches no waited run
    done, counters = _fresh_waits(server, old)
    assert [r.phase for r in done] == [Phase.SUCCEEDED] * old_n
    assert _count(counters, "ListRuns") == 1, counters  # one page reached nothing: the pass stops
    assert _count(counters, "GetActionDetails") == old_n, counters


def test_a_listing_that_fails_transiently_is_tried_again(server) -> None:
    n = 250  # more than the stream's first message tells (100 runs)
    with server.client() as client:
        runs = asyncio.run(_ended(client, n))
    server.admin.fail_next("ListRuns", "UNAVAILABLE", count=3)
    done, counters = _fresh_waits(server, runs)
    assert [r.phase for r in done] == [Phase.SUCCEEDED] * n
    # Three refused, then the one that read them: one reader retries, backing off; the other
    # readers wait for it instead of each listing again at once.
    assert 4 <= _count(counters, "ListRuns") <= 5, counters
    assert _count(counters, "GetActionDetails") == 0, counters
