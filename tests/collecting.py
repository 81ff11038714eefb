"""An async feed (a trigger's ``run()``, ``client.watch_runs``) read in a task while a test
goes on, and a poll that fails naming what it waited for, or why the feed ended."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any


class Collector:
    """Reads ``feed`` in a task into ``items`` (each through ``keep``) until stopped."""

    def __init__(self, feed: AsyncIterator[Any], keep: Callable[[Any], Any] = lambda item: item) -> None:
        self.items: list[Any] = []
        self.task = asyncio.ensure_future(self._collect(feed, keep))

    async def _collect(self, feed: AsyncIterator[Any], keep: Callable[[Any], Any]) -> None:
        async for item in feed:
            self.items.append(keep(item))

    def check(self) -> None:
        if self.task.done():  # a feed must never end by itself: show why it did
            raise AssertionError(
                f"the feed ended: {self.task.exception() if not self.task.cancelled() else 'cancelled'}"
            )

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], object], what: str, *collectors: Collector, within: float = 45.0) -> None:
    """Poll ``condition`` with the loop running (the feeds live on it); fail naming ``what``."""
    deadline = time.monotonic() + within
    while not condition():
        for collector in collectors:
            collector.check()
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)
