"""Drive the core's async orchestration from a Dagster step's (sync) main thread.

Dagster delivers run termination as ``DagsterExecutionInterruptedError`` raised in the
step's main thread by a signal handler. So the step's main thread must stay
interruptible: the coroutine runs on a private event-loop thread and the main thread
waits on it in short, signal-interruptible slices, draining events (log lines, the
"launched" notice) into ``context.log`` between slices, so Dagster's logger is only ever
called from the step's own thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["LoopRunner"]


class LoopRunner:
    """One event loop in a daemon thread; ``run`` blocks the caller interruptibly."""

    def __init__(self, name: str = "flyte-dagster") -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        self.events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def post(self, event: Callable[[], None]) -> None:
        """Queue a callable to run on the thread blocked in :meth:`run` (thread-safe)."""
        self.events.put(event)

    def _drain(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            try:
                event()
            except Exception:  # a logging hiccup must not fail the step
                pass

    def run(self, coro: Coroutine[Any, Any, T], *, tick: float = 0.2) -> T:
        """Run ``coro`` on the loop; the calling thread stays interruptible by signals.

        On any ``BaseException`` in the caller (an interrupt), the coroutine is cancelled
        before the exception propagates.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            while True:
                # Not future.result(timeout): WaitTimeoutError is a TimeoutError too.
                done, _ = concurrent.futures.wait([future], timeout=tick)
                self._drain()
                if done:
                    return future.result()
        except BaseException:
            future.cancel()
            raise
        finally:
            self._drain()

    def run_briefly(self, coro: Coroutine[Any, Any, T], timeout: float) -> T | None:
        """Run ``coro`` with a bound on the time spent (used on the way out of an interrupt)."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self._loop)
        try:
            return future.result(timeout + 1.0)
        except BaseException:
            future.cancel()
            return None

    def close(self) -> None:
        if self._loop.is_closed():
            return
        # Let background tasks (the core's shared watcher streams) finish cancelling first.
        self.run_briefly(_cancel_all(), 5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()


async def _cancel_all() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=4.0)
