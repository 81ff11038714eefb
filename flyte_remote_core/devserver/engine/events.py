"""In-process change notification for watch streams.

A :class:`Hub` lives on the server's event loop. Writers ``publish(key, item)``
once a change is made (its write to SQLite follows on the loop's next turn, right
after the streams it woke: ``Store.execute_soon``); every :class:`Subscription` on
that key collects the item in a set (bursts merge) and is woken. Stream handlers
wait on their subscription and re-read state after each wake-up, so a watcher
never sees a stale or partial state.

``drop_all()`` ends every open stream with UNAVAILABLE (used by the admin API
and at shutdown): waiting handlers raise :class:`StreamDropped`, a ConnectError.

Topics: :func:`action_topic` (one action changed), :func:`run_topic` (an action of
the run changed) and :data:`RUNS_TOPIC` (a run's phase changed; the item is the run).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Iterable
from types import TracebackType
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError

RUNS_TOPIC: tuple[str] = ("runs",)


def action_topic(key: tuple[str, str, str, str]) -> tuple[str, ...]:
    return ("action", *key)


def run_topic(project: str, domain: str, run: str) -> tuple[str, ...]:
    return ("run", project, domain, run)


class StreamDropped(ConnectError):
    def __init__(self, message: str = "stream dropped by the devserver; reconnect") -> None:
        super().__init__(Code.UNAVAILABLE, message)


class Subscription:
    __slots__ = ("_drop_message", "_dropped", "_event", "_hub", "_keys", "pending")

    def __init__(self, hub: Hub, keys: Iterable[Hashable]) -> None:
        self._hub = hub
        self._keys = tuple(keys)
        self._event = asyncio.Event()
        self.pending: set[Any] = set()
        self._dropped = False
        self._drop_message = ""

    def _notify(self, item: Any) -> None:
        if item is not None:
            self.pending.add(item)
        self._event.set()

    def _drop(self, message: str) -> None:
        self._dropped = True
        self._drop_message = message
        self._event.set()

    def check(self) -> None:
        if self._dropped:
            raise StreamDropped(self._drop_message)

    async def wait(self, timeout: float | None = None) -> set[Any]:
        """Wait for a change (or ``timeout``); return and clear the pending items."""
        self.check()
        if not self._event.is_set():
            if timeout is None:
                await self._event.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout)
        self.check()
        self._event.clear()
        items, self.pending = self.pending, set()
        return items

    def close(self) -> None:
        self._hub._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Hub:
    def __init__(self) -> None:
        self._subs: dict[Hashable, set[Subscription]] = {}
        self._all: set[Subscription] = set()

    def subscribe(self, *keys: Hashable) -> Subscription:
        sub = Subscription(self, keys)
        for key in keys:
            self._subs.setdefault(key, set()).add(sub)
        self._all.add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        for key in sub._keys:
            subs = self._subs.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[key]
        self._all.discard(sub)

    def publish(self, key: Hashable, item: Any = None) -> None:
        for sub in tuple(self._subs.get(key, ())):
            sub._notify(item)

    def drop_all(self, message: str = "stream dropped by the devserver; reconnect") -> int:
        subs = tuple(self._all)
        for sub in subs:
            sub._drop(message)
        return len(subs)
