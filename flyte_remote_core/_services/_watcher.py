"""The shared watcher: many waits, few streams.

A server caps concurrent HTTP/2 streams per connection (100 is common, about 250 on Go
servers). One ``WatchActionDetails`` stream per waited run therefore stalls silently past
that cap. Instead, each (endpoint and credentials, event loop) gets one watcher that keeps
one ``WatchRuns`` stream per (org, project, domain) and fans its updates out to waiters.

Correctness rules:

* a new waiter reads the run's current state once the stream is up (the stream's first
  batch holds only some runs), so a run that ended before the wait began is seen at once,
  unless a state the caller read itself is covered by the stream (``_coverage``); those reads
  go through the stream's first-read queue (``_first_reads``: a few readers, ListRuns pages
  when many wait at once);
* after every reconnect all waiters are re-read through the same queue (a terminal
  transition during the gap is never missed); reconnects back off with jitter;
* a slow periodic re-read guards against a backend that goes quiet without closing;
* when the last waiter of a stream leaves (done, cancelled or timed out), the stream stays
  open for a short linger (so sequential waits do not reconnect each time), then it and its
  task stop, and the watcher releases its share of the pooled channel: nothing keeps
  running long behind a cancelled wait;
* a backend without ``WatchRuns`` falls back to one ``WatchActionDetails`` stream per run,
  bounded by a semaphore well under the stream cap.

Besides waiters, a stream serves subscribers (:meth:`SharedWatcher.watch_runs`): every phase
change of every run of the project and domain, from the moment the subscription begins.

* a subscription begins with a baseline (one ``ListRuns`` page, taken once the stream is up):
  the runs it lists, and any terminal run that ended well before the subscription began, are
  known already and report nothing until their phase changes;
* each subscriber remembers the last phase it saw per run and reports a run only when its
  phase changes; a stale read (an older attempt, or a phase behind the one seen in the same
  attempt) is ignored, so a re-read racing the stream repeats nothing;
* after every reconnect (and on the slow periodic re-read) the stream re-lists the runs
  (``ListRuns``, more pages while they bring news) and re-reads the runs a subscriber knows as
  active but the listing missed: a run that changed phase while the stream was down is
  reported once, by that resync;
* a backend without ``WatchRuns`` makes subscribers poll the same resync instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from flyteidl2.common import identifier_pb2
from flyteidl2.workflow import run_definition_pb2

from .._errors import NotFoundError, RemoteError, UnimplementedError
from .._phases import Phase
from .._transport import RECONNECT, Rpc
from ._coverage import StreamCoverage
from ._first_reads import FirstReads
from ._runs import RunService
from ._scope import Scope
from ._subscriber import RunPhaseChange, Subscriber
from ._waiter import CONNECT_GRACE_S, StatusCallback, Waiter, cancel_task, until_done

log = logging.getLogger("flyte_remote_core.watcher")

_RESYNC_CONCURRENCY = 32
_FALLBACK_STREAMS = 80
# How long a WatchRuns stream outlives its last waiter.
DEFAULT_LINGER_S = 30.0
# Subscriptions: the baseline page, how many pages a resync may list, and the poll interval on a
# backend without WatchRuns.
_LIST_PAGE = 200
_RESYNC_PAGES = 5
DEFAULT_POLL_S = 5.0


class _ProjectStream:
    """One WatchRuns stream for one (org, project, domain), fanned out to its waiters and subscribers."""

    def __init__(self, watcher: SharedWatcher, org: str, project: str, domain: str) -> None:
        self.watcher = watcher
        self.org, self.project, self.domain = org, project, domain
        self.waiters: dict[str, set[Waiter]] = {}
        self.subscribers: set[Subscriber] = set()
        self.runs = RunService(watcher.rpc, Scope(org=org, project=project, domain=domain))
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.connects = 0
        self._linger: asyncio.TimerHandle | None = None
        self.coverage = StreamCoverage()  # of the current connection
        self.first_reads = FirstReads(
            connected=self.connected, read_status=watcher.read_status, list_page=self.list_page
        )

    def add(self, waiter: Waiter) -> None:
        self.waiters.setdefault(waiter.action_id.run.name, set()).add(waiter)
        self._hold()

    def remove(self, waiter: Waiter) -> None:
        name = waiter.action_id.run.name
        group = self.waiters.get(name)
        if group is not None:
            group.discard(waiter)
            if not group:
                del self.waiters[name]
        self._release()

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)
        self._hold()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self._release()

    @property
    def idle(self) -> bool:
        return not self.waiters and not self.subscribers

    def _hold(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if (self.task is None or self.task.done()) and self.watcher.watch_runs_supported is not False:
            self.connected.clear()
            self.task = asyncio.get_running_loop().create_task(self._run(), name=f"flyte-watch-{self.project}")

    def _release(self) -> None:
        if self.idle and self.task is not None and self._linger is None:
            if self.watcher.linger > 0:
                self._linger = asyncio.get_running_loop().call_later(self.watcher.linger, self.stop)
            else:
                self.stop()

    def stop(self) -> None:
        """End the stream now (its linger ran out, or the watcher closes)."""
        self._linger = None
        if self.task is not None and self.idle:
            self.task.cancel()
            self.watcher._stopping.add(self.task)
            self.task.add_done_callback(self.watcher._stopping.discard)
            self.task = None

    def dispatch(self, run_name: str, phase: Phase, status: Any) -> None:
        for waiter in list(self.waiters.get(run_name, ())):
            waiter.offer(phase, status)

    def fail_all(self, error: BaseException) -> None:
        for group in list(self.waiters.values()):
            for waiter in list(group):
                waiter.fail(error)
        for subscriber in list(self.subscribers):
            subscriber.fail(error)

    async def list_page(self, token: str = "") -> tuple[list[Any], str]:
        return await self.runs.list_page(self.project, self.domain, task_name=None, token=token, size=_LIST_PAGE)

    async def resync_subscribers(self, only: Iterable[Subscriber] | None = None) -> bool:
        """Re-list the runs and re-read the active ones the listing missed; each subscriber takes the news.

        Returns False when a transient failure left something unread (the caller may try again).
        """
        subscribers = [s for s in (self.subscribers if only is None else only) if s.ready]
        if not subscribers:
            return True
        listed: set[str] = set()
        token = ""
        try:
            for _ in range(_RESYNC_PAGES):
                runs, token = await self.list_page(token)
                news = False
                for run in runs:
                    listed.add(run.action.id.run.name)
                    for subscriber in subscribers:
                        news |= subscriber.offer(run, resynced=True)
                if not token or not news:  # older pages hold older runs: stop once a page brings nothing
                    break
        except RemoteError as exc:
            if not exc.retryable:
                for subscriber in subscribers:
                    subscriber.fail(exc)
                return True
            return False  # a transient failure: the caller tries again
        missing = {name for s in subscribers for name in s.active()} - listed

        async def one(name: str) -> bool:
            async with self.watcher._resync_sem:
                action_id = identifier_pb2.ActionIdentifier(
                    run=identifier_pb2.RunIdentifier(org=self.org, project=self.project, domain=self.domain, name=name),
                    name="a0",
                )
                try:
                    details = await self.watcher.runs.action_details(action_id)
                except NotFoundError:
                    for subscriber in subscribers:
                        subscriber.forget(name)
                    return True
                except RemoteError as exc:
                    return not exc.retryable
                run = run_definition_pb2.Run()
                run.action.id.CopyFrom(details.id)
                run.action.metadata.CopyFrom(details.metadata)
                run.action.status.CopyFrom(details.status)
                for subscriber in subscribers:
                    subscriber.offer(run, resynced=True)
                return True

        return all(await asyncio.gather(*(one(name) for name in sorted(missing))))

    async def _run(self) -> None:
        failures = 0
        resync_task: asyncio.Task[None] | None = None
        try:
            while not self.idle or self._linger is not None:
                self.connected.clear()
                resync_task = asyncio.get_running_loop().create_task(self._resync_when_connected())
                try:
                    async for message in self.watcher.runs.watch_runs(self.org, self.project, self.domain):
                        self.coverage.went_live()
                        self.connected.set()
                        failures = 0
                        told_at = time.monotonic()
                        for run in message.runs:
                            status = run.action.status
                            name = run.action.id.run.name
                            self.coverage.told(name, told_at)
                            self.dispatch(name, Phase.from_raw(status.phase), status)
                            for subscriber in list(self.subscribers):
                                subscriber.offer(run, resynced=False)
                        # The waits this message ended go on before the next read is asked of
                        # grpc (tens of µs that would otherwise come first).
                        await asyncio.sleep(0)
                    log.debug("WatchRuns closed cleanly; reconnecting")
                except UnimplementedError:
                    self.watcher.watch_runs_supported = False
                    self.fail_all(_FallBack())
                    return
                except RemoteError as exc:
                    if not exc.retryable:
                        self.fail_all(exc)
                        return
                    log.debug("WatchRuns stream failed (%s); reconnecting", exc)
                finally:
                    self.coverage.went_down()
                    await cancel_task(resync_task)
                await asyncio.sleep(RECONNECT.backoff(failures))
                failures += 1
        finally:
            if resync_task is not None:
                await cancel_task(resync_task)
            await self.watcher._close_channel_if_idle(self)

    async def _resync_when_connected(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.connected.wait(), CONNECT_GRACE_S)
        self.connected.set()
        self.connects += 1
        if self.connects > 1:  # after a reconnect every waiter is re-read, and every subscriber resynced
            await self._resync_everyone()
        while True:
            await asyncio.sleep(self.watcher.resync_interval)
            await self._resync_everyone()

    async def _resync_everyone(self) -> None:
        """Re-read every waiter and resync every subscriber, again (backing off) until nothing failed.

        A re-read that fails transiently is not a reason to wait for the next periodic resync: the
        terminal transition it would have caught may have happened while the stream was down. The
        waiters go through the first-read queue, which retries by itself (and lists when many wait).
        """
        for group in list(self.waiters.values()):
            for waiter in group:
                self.first_reads.add(waiter)
        await until_done(self.resync_subscribers)


class _FallBack(Exception):
    """Internal signal: this backend has no WatchRuns; watch the run on its own."""


class SharedWatcher:
    """Waits for runs over shared streams; one per (client configuration, event loop)."""

    def __init__(
        self,
        rpc: Rpc,
        *,
        resync_interval: float = 60.0,
        linger: float = DEFAULT_LINGER_S,
        poll_interval: float = DEFAULT_POLL_S,
    ) -> None:
        self.rpc = rpc
        self.runs = RunService(rpc, Scope(org="", project="", domain=""))  # ids come whole with each call
        self.resync_interval = resync_interval
        self.linger = linger
        self.poll_interval = poll_interval
        self.watch_runs_supported: bool | None = None
        self._streams: dict[tuple[str, str, str], _ProjectStream] = {}
        self._resync_sem = asyncio.Semaphore(_RESYNC_CONCURRENCY)
        self._fallback_sem = asyncio.Semaphore(_FALLBACK_STREAMS)
        self._stopping: set[asyncio.Task[None]] = set()
        self._alone = 0  # waits in fallback mode, each on its own stream

    async def _close_channel_if_idle(self, leaving: _ProjectStream) -> None:
        # The watcher holds a share of this loop's pooled channel while a stream runs; when none
        # does, it lets go, so loops that come and go (dag.test() runs each trigger under
        # asyncio.run) leave no channel behind. The next wait takes a share again.
        busy = any(s.task is not None and not s.task.done() and s is not leaving for s in self._streams.values())
        if not busy and self._alone == 0:
            with contextlib.suppress(Exception):
                await self.rpc.close()

    async def aclose(self) -> None:
        """Wait for streams whose last waiter left; cancel any still running (their waits fail)."""
        for stream in self._streams.values():
            if stream._linger is not None:
                stream._linger.cancel()
                stream._linger = None
            if stream.task is not None:
                self._stopping.add(stream.task)
                stream.task = None
        for task in list(self._stopping):
            await cancel_task(task)

    @property
    def open_streams(self) -> int:
        return sum(1 for s in self._streams.values() if s.task is not None and not s.task.done())

    def _stream(self, org: str, project: str, domain: str) -> _ProjectStream:
        key = (org, project, domain)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _ProjectStream(self, *key)
        return stream

    async def watch_runs(self, org: str, project: str, domain: str) -> AsyncIterator[RunPhaseChange]:
        """Every phase change of the runs of a project and domain from now on (see the module docstring).

        Rides the project's shared WatchRuns stream (opening it if needed); never ends by itself.
        Raises what the backend answered if it is not worth retrying.
        """
        stream = self._stream(org, project, domain)
        subscriber = Subscriber()
        stream.subscribe(subscriber)
        polling = False
        try:
            if self.watch_runs_supported is not False:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stream.connected.wait(), CONNECT_GRACE_S)
            await self._begin(stream, subscriber)
            while True:
                if self.watch_runs_supported is False and not polling:
                    polling = True
                    self._alone += 1
                if polling:
                    try:
                        item = await asyncio.wait_for(subscriber.queue.get(), self.poll_interval)
                    except TimeoutError:
                        await stream.resync_subscribers([subscriber])
                        continue
                else:
                    item = await subscriber.queue.get()
                if isinstance(item, _FallBack):
                    continue  # no WatchRuns here: poll (above)
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stream.unsubscribe(subscriber)
            if polling:
                self._alone -= 1
                await self._close_channel_if_idle(stream)

    async def _begin(self, stream: _ProjectStream, subscriber: Subscriber) -> None:
        """Take the baseline; a transient failure is retried (the subscription has not begun yet)."""
        failures = 0
        while True:
            began_at = time.time()
            try:
                runs, _ = await stream.list_page()
            except RemoteError as exc:
                if not exc.retryable:
                    raise
                await asyncio.sleep(RECONNECT.backoff(failures))
                failures += 1
                continue
            subscriber.begin(runs, began_at)
            return

    async def wait(
        self,
        action_id: Any,
        until: Callable[[Phase], bool],
        on_status: StatusCallback | None = None,
        *,
        known: tuple[Any, float] | None = None,
    ) -> Phase:
        """Return the first phase for which ``until(phase)`` holds.

        ``known`` is ``(status, read_at)``: a status of the run the caller read, and when
        (``time.monotonic()``) it sent that read. If the stream covers everything since, that
        status stands in for the waiter's first read (see the module docstring).
        """
        waiter = Waiter(action_id, until, on_status)
        # WatchRuns carries each run's root action only; other actions are watched alone.
        if self.watch_runs_supported is False or action_id.name != "a0":
            return await self._wait_alone(waiter)
        run = action_id.run
        stream = self._stream(run.org, run.project, run.domain)
        stream.add(waiter)
        if known is not None and stream.coverage.covers(run.name, known[1]):
            waiter.offer(Phase.from_raw(known[0].phase), known[0])
        else:
            stream.first_reads.add(waiter)  # a run that ended before the wait is seen
        try:
            return await waiter.future
        except _FallBack:
            return await self._wait_alone(Waiter(action_id, until, on_status))
        finally:
            stream.remove(waiter)
            if stream.idle:  # nothing left to read for: no reader outlives the last wait
                await stream.first_reads.stop()

    async def read_status(self, action_id: Any) -> Any:
        return (await self.runs.action_details(action_id)).status

    async def _wait_alone(self, waiter: Waiter) -> Phase:
        """Fallback: one WatchActionDetails stream for this run, reconnecting with backoff."""
        self._alone += 1
        try:
            async with self._fallback_sem:
                await self._watch_alone(waiter)
        finally:
            self._alone -= 1
        return waiter.future.result()

    async def _watch_alone(self, waiter: Waiter) -> None:
        failures = 0
        while not waiter.future.done():
            try:
                async for message in self.runs.watch_action(waiter.action_id):
                    failures = 0
                    status = message.details.status
                    waiter.offer(Phase.from_raw(status.phase), status)
                    if waiter.future.done():
                        return
            except RemoteError as exc:
                if not exc.retryable:
                    raise
            await asyncio.sleep(RECONNECT.backoff(failures))
            failures += 1


# One watcher per (channel configuration, event loop) for the whole process, so that
# separate clients for one endpoint (an Airflow triggerer builds one per trigger) share it;
# its Rpc shares the pooled channel of the clients with that configuration.
_REGISTRY: dict[tuple[str, asyncio.AbstractEventLoop], SharedWatcher] = {}


def existing_watcher(config_key: str) -> SharedWatcher | None:
    """The watcher for this configuration on the running loop, if one was made."""
    return _REGISTRY.get((config_key, asyncio.get_running_loop()))


def shared_watcher(config_key: str, channel_factory: Any) -> SharedWatcher:
    """The process-wide watcher for this configuration on the running loop."""
    loop = asyncio.get_running_loop()
    watcher = _REGISTRY.get((config_key, loop))
    if watcher is None:
        for key in [k for k in _REGISTRY if k[1].is_closed()]:
            del _REGISTRY[key]
        watcher = _REGISTRY[(config_key, loop)] = SharedWatcher(Rpc(channel_factory, key=config_key))
    return watcher
