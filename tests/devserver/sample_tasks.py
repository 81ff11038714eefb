"""Plain Python functions used as devserver tasks by the tests.

Import as ``tests.devserver.sample_tasks`` (the repository root on ``sys.path``, which
the devserver's workers get from the server's working directory). Every public
top-level function here becomes a task named ``sample_tasks.<function>``.

Keep the set broad: other test suites (client, Airflow, Dagster) launch these too.
Helpers that must not become tasks start with ``_``; classes are never tasks.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

from pydantic import BaseModel

from flyte_remote_core.devserver import task_options

_log = logging.getLogger("sample_tasks")


@dataclass
class Point:
    x: int
    y: int
    label: str = ""


@dataclass
class Summary:
    count: int
    total: float
    names: list[str] = field(default_factory=list)


class Order(BaseModel):
    item: str
    quantity: int
    unit_price: float = 1.0


# -- plain values ----------------------------------------------------------------------


def add(x: int, y: int) -> int:
    return x + y


def greet(name: str, greeting: str = "Hello") -> str:
    return f"{greeting}, {name}!"


def noop() -> None:
    """No inputs, no outputs: the cheapest possible task (throughput tests)."""


def negate(flag: bool) -> bool:
    return not flag


def scale(value: float, factor: float = 2.0) -> float:
    return value * factor


# -- structured values -----------------------------------------------------------------


def make_point(x: int, y: int, label: str = "p") -> Point:
    return Point(x=x, y=y, label=label)


def move_point(p: Point, dx: int = 1, dy: int = 1) -> Point:
    return Point(x=p.x + dx, y=p.y + dy, label=p.label)


def summarize(values: list[float], names: list[str]) -> Summary:
    return Summary(count=len(values), total=sum(values), names=sorted(names))


def sum_list(xs: list[int]) -> int:
    return sum(xs)


def word_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def total_values(d: dict[str, int]) -> int:
    return sum(d.values())


def maybe_double(x: Optional[int] = None) -> Optional[int]:
    return None if x is None else 2 * x


def add_days(when: _dt.datetime, delta: _dt.timedelta) -> _dt.datetime:
    return when + delta


def elapsed(start: _dt.datetime, end: _dt.datetime) -> _dt.timedelta:
    return end - start


def divmod_task(a: int, b: int) -> tuple[int, int]:
    return divmod(a, b)


def split_name(full: str) -> tuple[int, str]:
    """Multiple outputs: o0 is the number of words, o1 the first word upper-cased."""
    parts = full.split()
    return len(parts), (parts[0].upper() if parts else "")


def order_total(order: Order) -> float:
    return order.quantity * order.unit_price


def make_order(item: str, quantity: int) -> Order:
    return Order(item=item, quantity=quantity)


async def async_add(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


# -- failures --------------------------------------------------------------------------


def fail_user(message: str = "bad value") -> int:
    raise ValueError(message)


def crash(code: int = 3) -> int:
    """Kills its own process without cleanup, as a segfaulting extension would."""
    sys.stdout.flush()
    os._exit(code)


def hang() -> None:
    while True:
        time.sleep(3600)


def spawn_and_hang(pid_file: str) -> None:
    """Starts a long-lived child process (pid written to ``pid_file``), then hangs."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(pid_file, "w") as f:
        f.write(str(child.pid))
    hang()


def sleepy(seconds: float = 1.0) -> float:
    time.sleep(seconds)
    return seconds


@task_options(retries=2)
def flaky(marker: str) -> str:
    """Fails on the first attempt and succeeds on the next.

    ``marker`` is a path: absent means "first attempt" (create it and fail).
    """
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("attempted\n")
        raise RuntimeError(f"first attempt fails (marker {marker} created)")
    return "recovered"


@task_options(timeout=1.0)
def slow_with_timeout(seconds: float = 30.0) -> float:
    time.sleep(seconds)
    return seconds


# -- logs ------------------------------------------------------------------------------


def chatty(lines: int = 3, pause: float = 0.0) -> int:
    """Writes to stdout, stderr and ``logging`` (``pause`` seconds between lines)."""
    for i in range(lines):
        print(f"stdout line {i}")
        print(f"stderr line {i}", file=sys.stderr)
        _log.info("log line %d", i)
        if pause:
            time.sleep(pause)
    return lines


def _private_helper() -> int:
    return 42
