"""Devserver tasks for the Dagster integration tests (task names ``dagster_tasks.<function>``)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Stats:
    count: int
    mean: float


def numbers(n: int) -> list[int]:
    return list(range(n))


def stats(values: list[float]) -> Stats:
    return Stats(count=len(values), mean=sum(values) / len(values) if values else 0.0)


def tally(words: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in words:
        out[w] = out.get(w, 0) + 1
    return out


def day_label(day: str, suffix: str = "!") -> str:
    return f"day {day}{suffix}"


def fail(message: str) -> int:
    raise ValueError(message)


def slow(seconds: float = 30.0) -> float:
    print("slow task started", flush=True)
    time.sleep(seconds)
    return seconds
