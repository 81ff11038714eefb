"""Shared bits for the benchmark scripts: percentiles, RSS, and a rich table printer."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_kb() -> int:
    """Resident set size of this process in KiB (Linux)."""
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Rows of (measure, value, target, verdict)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("measure", "value", "target", "met"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"
