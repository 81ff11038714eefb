"""The first read of each new waiter of one watch stream.

A run may have ended before its wait began, and a stream's first batch holds only some runs,
so each new waiter reads its run once the stream is up. Those reads go through one queue per
stream, drained by a few reader tasks (no task per waiter: 10,000 waits stay cheap):

* a short queue is read run by run (``GetActionDetails``);
* a long one (a triggerer resuming thousands of deferred tasks, a script waiting on a batch it
  just launched) is read in pages of ``ListRuns``, newest first, while pages still hold queued
  runs; whatever the listing did not reach is then read run by run. A listing sent after a
  waiter joined the queue is as good a first read as its own ``GetActionDetails``;
* a transient failure puts the waiter back in the queue and its reader backs off (a failed
  listing backs off before any reader lists again); any other failure fails that wait (a
  listing that is refused outright just turns listing off).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .._errors import RemoteError
from .._phases import Phase
from .._transport import RECONNECT
from ._waiter import CONNECT_GRACE_S, Waiter, cancel_task

READERS = 32  # concurrent first reads per stream
LIST_FROM = 64  # queued waiters from which a ListRuns page is cheaper than one read per run
LIST_PAGES = 100  # pages a listing pass may read (200 runs each)

ReadStatus = Callable[[Any], Awaitable[Any]]
ListPage = Callable[[str], Awaitable[tuple[list[Any], str]]]


class FirstReads:
    """The first-read queue of one stream (see the module docstring)."""

    def __init__(self, *, connected: asyncio.Event, read_status: ReadStatus, list_page: ListPage) -> None:
        self._connected = connected
        self._read_status = read_status
        self._list_page = list_page
        self._fresh: deque[Waiter] = deque()  # not yet tried by a listing
        self._singles: deque[Waiter] = deque()  # read run by run
        self._readers: set[asyncio.Task[None]] = set()
        self._listing = False
        self._listed = asyncio.Event()
        self._list_refused = False
        self._list_failures = 0  # listings failed in a row

    def __len__(self) -> int:
        return len(self._fresh) + len(self._singles)

    def add(self, waiter: Waiter) -> None:
        self._fresh.append(waiter)
        if len(self._readers) < min(READERS, len(self)):
            task = asyncio.get_running_loop().create_task(self._reader(), name="flyte-watch-first-read")
            self._readers.add(task)

    async def stop(self) -> None:
        """Cancel the readers (the stream has no waiter left) and wait for them."""
        for task in list(self._readers):
            await cancel_task(task)
        self._fresh.clear()
        self._singles.clear()

    async def _reader(self) -> None:
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._connected.wait(), CONNECT_GRACE_S)
            failures = 0
            while self._fresh or self._singles:
                if self._listing:  # another reader is listing: its pages may read these waiters
                    await self._listed.wait()
                    continue
                if len(self._fresh) >= LIST_FROM and not self._list_refused:
                    ok = await self._list_pass()
                else:
                    waiter = (self._singles or self._fresh).popleft()
                    ok = waiter.future.done() or await self._read_one(waiter)
                if ok:
                    failures = 0
                else:
                    await asyncio.sleep(RECONNECT.backoff(failures))
                    failures += 1
        finally:
            # No await between the queues found empty and this: a waiter added meanwhile starts a reader.
            task = asyncio.current_task()
            if task is not None:
                self._readers.discard(task)

    async def _read_one(self, waiter: Waiter) -> bool:
        try:
            status = await self._read_status(waiter.action_id)
        except RemoteError as exc:
            if not exc.retryable:
                waiter.fail(exc)
                return True
            self._singles.append(waiter)  # read again after the back-off
            return False
        waiter.offer(Phase.from_raw(status.phase), status)
        return True

    async def _list_pass(self) -> bool:
        """Read the fresh waiters from ListRuns pages; the ones no page reached are read run by run."""
        self._listing = True
        self._listed.clear()
        batch = list(self._fresh)  # all queued before the first page is asked for
        self._fresh.clear()
        by_name: dict[str, list[Waiter]] = {}
        for waiter in batch:
            by_name.setdefault(waiter.run_name, []).append(waiter)
        read: set[Waiter] = set()
        token = ""
        failed = False
        try:
            for _ in range(LIST_PAGES):
                runs, token = await self._list_page(token)
                reached = False
                for run in runs:
                    group = by_name.pop(run.action.id.run.name, None)
                    if group:
                        reached = True
                        status = run.action.status
                        phase = Phase.from_raw(status.phase)
                        for waiter in group:
                            waiter.offer(phase, status)
                            read.add(waiter)
                if not token or not reached or not by_name:  # older pages hold older runs
                    break
            self._list_failures = 0
        except RemoteError as exc:
            if exc.retryable:
                failed = True  # list again after the back-off
            else:
                self._list_refused = True  # this backend will not list: read run by run
        finally:
            unread = [w for w in batch if w not in read and not w.future.done()]
            if failed:
                self._fresh.extendleft(reversed(unread))
            else:
                self._singles.extend(unread)
        try:
            if failed:  # back off while still listing, so the other readers wait instead of retrying at once
                await asyncio.sleep(RECONNECT.backoff(self._list_failures))
                self._list_failures += 1
        finally:
            self._listing = False
            self._listed.set()
        return True
