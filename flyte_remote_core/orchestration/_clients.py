"""How an integration gets its clients and closes them.

Two shapes cover every integration:

* :class:`ClientSlot`: one client for one owner (an Airflow hook, a Dagster resource), built
  on first use in the process that uses it and rebuilt in a forked child (grpcio channels
  must not cross a ``fork()``); closed by the owner.
* :class:`SharedClients`: clients shared by many waiters on one event loop (the Airflow
  triggerer runs hundreds of triggers on one loop): one per settings and loop, counted,
  so all waits on an endpoint share one watch stream. With ``linger`` (seconds) a client
  whose last lease ended stays open that long for the next waiter (a triggerer that runs
  waves of short triggers keeps one client and one stream); without, it closes at once.

Clients are built by a factory the integration passes in (it knows how to turn its
configuration into a ``FlyteClient``); nothing here imports the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Generic, TypeVar

from ._protocols import Closable

__all__ = ["ClientSlot", "SharedClients", "settings_key"]

log = logging.getLogger("flyte_remote_core.orchestration")
C = TypeVar("C", bound=Closable)
# Closes started by a linger timer (held so they are not garbage-collected mid-way).
_CLOSING: set[asyncio.Task[None]] = set()


def settings_key(settings: Mapping[str, Any]) -> str:
    """A stable digest of client settings (they hold secrets: never use them as a key themselves)."""
    return hashlib.sha256(repr(sorted((str(k), repr(v)) for k, v in settings.items())).encode()).hexdigest()


class ClientSlot(Generic[C]):
    """One lazily built client, per process; thread-safe."""

    def __init__(self) -> None:
        self._client: C | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self, factory: Callable[[], C]) -> C:
        """The client, built with ``factory`` on first use in this process."""
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # A client inherited through fork() is unusable: drop it (never close it here) and build anew.
                self._client = factory()
                self._pid = os.getpid()
            return self._client

    @property
    def built(self) -> bool:
        return self._client is not None and self._pid == os.getpid()

    def close(self) -> None:
        """Close the client, if this process built one. Safe to call twice."""
        with self._lock:
            client, self._client = self._client, None
            mine = self._pid == os.getpid()
        if client is not None and mine:
            client.close()


class SharedClients(Generic[C]):
    """Clients shared per settings and event loop, counted by lease."""

    def __init__(self, *, linger: float = 0.0) -> None:
        self._entries: dict[tuple[str, asyncio.AbstractEventLoop], list[Any]] = {}  # key -> [client, leases, timer]
        self.linger = float(linger)
        self.built = 0  # clients built over this object's life (a measure for tests and logs)

    @contextlib.asynccontextmanager
    async def lease(self, settings: Mapping[str, Any], factory: Callable[[], C]) -> AsyncIterator[C]:
        """The client for ``settings`` on the running loop (built with ``factory`` if there is none)."""
        loop = asyncio.get_running_loop()
        for stale in [k for k in self._entries if k[1].is_closed()]:
            del self._entries[stale]  # its loop is gone, and its channels with it
        key = (settings_key(settings), loop)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = [factory(), 0, None]
            self.built += 1
        if entry[2] is not None:  # a lingering client gets a new waiter: keep it
            entry[2].cancel()
            entry[2] = None
        entry[1] += 1
        try:
            yield entry[0]
        finally:
            entry[1] -= 1
            if entry[1] <= 0 and self._entries.get(key) is entry:
                if self.linger > 0 and not loop.is_closed():
                    entry[2] = loop.call_later(self.linger, self._expire, key, entry)
                else:
                    del self._entries[key]
                    await self._close(entry[0])

    def _expire(self, key: tuple[str, asyncio.AbstractEventLoop], entry: list[Any]) -> None:
        if entry[1] > 0 or self._entries.get(key) is not entry:
            return
        del self._entries[key]
        task = key[1].create_task(self._close(entry[0]))
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    @staticmethod
    async def _close(client: Any) -> None:
        try:
            await client.aclose()
        except Exception as exc:  # closing is best effort
            log.debug("closing a shared client failed: %s", exc)

    async def aclose(self) -> None:
        """Close every client of the running loop now, lingering or leased (a process shutting down)."""
        loop = asyncio.get_running_loop()
        for key in [k for k in self._entries if k[1] is loop]:
            entry = self._entries.pop(key)
            if entry[2] is not None:
                entry[2].cancel()
            await self._close(entry[0])

    def __len__(self) -> int:
        return len(self._entries)
