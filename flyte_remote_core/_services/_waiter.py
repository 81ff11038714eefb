"""One wait on one action, and the retry helpers the watcher's parts share.

A :class:`Waiter` is what a stream fans out to: a future resolved by the first phase its
``until`` accepts, and an optional status callback told each new phase once. It holds no task
of its own, so a waited run costs a few hundred bytes (10,000 waits in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .._phases import Phase
from .._transport import RECONNECT

log = logging.getLogger("flyte_remote_core.watcher")

StatusCallback = Callable[[Phase, Any], None]

# How long a new waiter or subscriber waits for its stream to come up before reading anyway.
CONNECT_GRACE_S = 0.5


class Waiter:
    __slots__ = ("action_id", "future", "last_phase", "on_status", "until")

    def __init__(self, action_id: Any, until: Callable[[Phase], bool], on_status: StatusCallback | None) -> None:
        self.action_id = action_id
        self.until = until
        self.on_status = on_status
        self.future: asyncio.Future[Phase] = asyncio.get_running_loop().create_future()
        self.last_phase: Phase | None = None

    @property
    def run_name(self) -> str:
        return str(self.action_id.run.name)

    def offer(self, phase: Phase, status: Any) -> None:
        if self.future.done():
            return
        if phase != self.last_phase:
            self.last_phase = phase
            if self.on_status is not None:
                try:
                    self.on_status(phase, status)
                except Exception:  # a display callback must never break the wait
                    log.exception("status callback failed")
        if self.until(phase):
            self.future.set_result(phase)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


async def until_done(attempt: Callable[[], Awaitable[bool]]) -> None:
    """Call ``attempt`` until it returns True (nothing left unread), backing off between calls."""
    failures = 0
    while not await attempt():
        await asyncio.sleep(RECONNECT.backoff(failures))
        failures += 1


async def cancel_task(task: asyncio.Task[Any]) -> None:
    """Cancel a helper task and wait for it, so none is left pending when a loop closes."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
