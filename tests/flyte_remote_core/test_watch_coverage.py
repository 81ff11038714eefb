"""A wait on a run the client just launched or read skips its first read when the warm stream
covers it, and still never misses a change that came before the wait."""

from __future__ import annotations

import asyncio

import pytest

from flyte_remote_core import Phase
from flyte_remote_core._services._coverage import LIVE_MARGIN_S, TOLD_MAX, StreamCoverage


@pytest.fixture
def one_worker(tmp_path):
    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path, workers=1) as srv:
        yield srv


async def _warm_up(client) -> None:
    """One wait opens the shared stream; then it has been live longer than the coverage margin."""
    warm = await client.run.aio("sample_tasks.add", {"x": 1, "y": 1})
    await warm.wait.aio(quiet=True, timeout=30)
    await asyncio.sleep(1.2)


def test_waiting_on_a_launch_over_a_warm_stream_reads_nothing(one_worker) -> None:
    client = one_worker.client()
    try:

        async def main() -> tuple[Phase, int]:
            await _warm_up(client)
            # The only worker is busy, so the launched run stays QUEUED (not on the stream) until
            # the wait is surely registered: the test does not depend on who is faster.
            blocker = await client.run.aio("sample_tasks.hang", {})
            await blocker.wait.aio(quiet=True, wait_for="running", timeout=30)
            await asyncio.sleep(1.2)
            one_worker.admin.reset_counters()
            run = await client.run.aio("sample_tasks.add", {"x": 2, "y": 1})
            wait = asyncio.ensure_future(run.wait.aio(quiet=True, timeout=30))
            await asyncio.sleep(0.3)
            await blocker.abort.aio()
            done = await wait
            return done.phase, one_worker.admin.call_count("GetActionDetails")

        assert asyncio.run(main()) == (Phase.SUCCEEDED, 0)
    finally:
        client.close()


def test_a_cold_stream_still_reads_the_launched_run(one_worker) -> None:
    client = one_worker.client()
    try:

        async def main() -> tuple[Phase, int]:
            one_worker.admin.reset_counters()
            run = await client.run.aio("sample_tasks.add", {"x": 2, "y": 1})
            done = await run.wait.aio(quiet=True, timeout=30)
            return done.phase, one_worker.admin.call_count("GetActionDetails")

        phase, reads = asyncio.run(main())
        assert phase is Phase.SUCCEEDED and reads >= 1
    finally:
        client.close()


def test_a_run_that_ended_before_the_wait_is_seen_although_the_stream_was_warm(one_worker) -> None:
    """The stream told about the run before the wait began: the launch's QUEUED must not stand in
    for a read, or the wait would hang on a run that changes no more."""
    client = one_worker.client()
    try:

        async def main() -> Phase:
            await _warm_up(client)
            run = await client.run.aio("sample_tasks.add", {"x": 3, "y": 1})
            await asyncio.sleep(1.5)  # it ends, and the stream tells about it, before anyone waits
            return (await run.wait.aio(quiet=True, timeout=10)).phase

        assert asyncio.run(main()) is Phase.SUCCEEDED
    finally:
        client.close()


def test_a_finished_run_read_over_a_warm_stream_returns_at_once(one_worker) -> None:
    client = one_worker.client()
    try:

        async def main() -> Phase:
            await _warm_up(client)
            ended = await client.run.aio("sample_tasks.add", {"x": 4, "y": 1})
            await ended.wait.aio(quiet=True, timeout=30)
            await asyncio.sleep(1.2)
            again = await client.get_run.aio(ended.name)  # a fresh read, after the stream told all
            return (await again.wait.aio(quiet=True, timeout=10)).phase

        assert asyncio.run(main()) is Phase.SUCCEEDED
    finally:
        client.close()


def test_a_held_run_the_stream_listed_then_read_again_is_waited_without_a_read(one_worker) -> None:
    """The stream listed the run (RUNNING) before the caller read it: the read is newer, so the
    wait takes it and reads nothing; the end still comes on the stream."""
    client = one_worker.client()
    try:

        async def main() -> tuple[Phase, int]:
            await _warm_up(client)
            one_worker.admin.hold(all_new_runs=True)
            launched = await client.run.aio("sample_tasks.add", {"x": 5, "y": 1})
            await launched.wait.aio(quiet=True, wait_for="running", timeout=30)
            await asyncio.sleep(0.5)  # its RUNNING was told before the read below is sent
            one_worker.admin.reset_counters()
            run = await client.get_run.aio(launched.name)
            wait = asyncio.ensure_future(run.wait.aio(quiet=True, timeout=30))
            await asyncio.sleep(0.3)
            assert not wait.done()
            one_worker.admin.release(run.name)
            done = await wait
            return done.phase, one_worker.admin.call_count("GetActionDetails")

        assert asyncio.run(main()) == (Phase.SUCCEEDED, 0)
    finally:
        client.close()


def test_coverage_rules() -> None:
    cov = StreamCoverage()
    assert not cov.covers("r", 100.0)  # not live
    cov.went_live()
    live = cov.live_since
    assert live is not None
    assert not cov.covers("r", live + LIVE_MARGIN_S / 2)  # inside the margin
    assert cov.covers("r", live + LIVE_MARGIN_S)
    cov.told("r", live + 2.0)
    assert not cov.covers("r", live + 1.5)  # told after the read was sent: read it
    assert not cov.covers("r", live + 2.0)
    assert cov.covers("r", live + 3.0)  # told before the read: the read is the newer state
    for i in range(TOLD_MAX):  # "r" is forgotten; a read sent before it was told is not covered
        cov.told(f"other-{i}", live + 2.0)
    assert not cov.covers("r", live + 1.5)
    assert cov.covers("r", live + 2.5)  # a read sent after every forgotten entry
    cov.went_down()
    assert cov.live_since is None and not cov.covers("x", live + 10)
