"""Example Flyte tasks for the demo and the docs: plain Python functions.

The embedded devserver turns every public top-level function here into a task named
``tasks.<function>`` (``flyte-devserver --tasks examples.tasks``). Against a real Flyte 2
backend, deploy tasks with these names and interfaces to run the same demo.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Stats:
    count: int
    mean: float
    minimum: float
    maximum: float


def add(x: int, y: int) -> int:
    """Primitives in, primitive out."""
    return x + y


def summarize(values: list[float]) -> Stats:
    """A list input and a dataclass output (sent as a msgpack STRUCT)."""
    if not values:
        raise ValueError("summarize needs at least one value")
    return Stats(count=len(values), mean=statistics.fmean(values), minimum=min(values), maximum=max(values))


def greet(name: str, greeting: str = "Hello") -> str:
    """A default input."""
    return f"{greeting}, {name}!"


def fail(message: str = "this task always fails") -> None:
    """Fails with a USER error."""
    raise ValueError(message)


def slow(seconds: float = 2.0) -> float:
    """Slow enough to watch its phases and logs go by."""
    steps = max(1, int(seconds * 2))
    for step in range(steps):
        log.warning("working: step %d of %d", step + 1, steps)
        print(f"progress {100 * (step + 1) // steps}%", flush=True)
        time.sleep(seconds / steps)
    return seconds
