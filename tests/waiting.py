"""Waiting in a test for something that happens elsewhere (a server, another process, a loop):
poll a condition, never sleep a fixed time, and fail naming what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

What = str | Callable[[], str]  # a callable is asked on failure (e.g. to show the value last seen)


def _failure(what: What, timeout: float) -> AssertionError:
    return AssertionError(f"{what() if callable(what) else what}: not within {timeout} s")


def wait_until(condition: Callable[[], Any], what: What = "the condition", *, timeout: float = 30.0,
               interval: float = 0.05) -> Any:  # fmt: skip
    """Poll ``condition`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise _failure(what, timeout)
        time.sleep(interval)
    return value


async def wait_until_async(condition: Callable[[], Any], what: What = "the condition", *, timeout: float = 30.0,
                           interval: float = 0.02) -> Any:  # fmt: skip
    """:func:`wait_until` on an event loop, which (and the waits on it) keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise _failure(what, timeout)
        await asyncio.sleep(interval)
    return value
