"""Test helper: reach the process-wide shared watcher a client's waits go through."""

from __future__ import annotations

from typing import Any

from flyte_remote_core._services._watcher import SharedWatcher


def watcher_of(client: Any) -> SharedWatcher:
    """The watcher for ``client``'s endpoint on the running event loop."""
    return client._services.watcher()


async def eventually(condition: Any, timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until ``condition()`` holds, checking every 10 ms; fail with ``what`` past ``timeout``."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        await asyncio.sleep(0.01)


def no_other_tasks() -> bool:
    """True when nothing but the calling task runs on the loop (no stream, reconnect or timer task left)."""
    import asyncio

    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def lingers_then_stops(watcher: SharedWatcher) -> None:
    """The watcher's stream outlives its last waiter for the linger, then stops and leaves no task."""
    assert watcher.open_streams == 1, "the stream should linger after its last waiter"
    await eventually(
        lambda: watcher.open_streams == 0 and no_other_tasks(),
        timeout=watcher.linger + 5,
        what="the stream stopping after its linger",
    )
