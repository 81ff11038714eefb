"""Dagster run termination around a Flyte run: keep short critical sections whole, abort on the way out.

Dagster terminates a step by raising ``DagsterExecutionInterruptedError`` from a signal
handler in the step's main thread. The core's blocking calls wait on a future, which a
signal interrupts, so the wait itself is cancellable as is. Two short sections must not be
cut in half, though:

* the launch: an interrupt between CreateRun and its answer would leave a remote run that
  nobody knows the name of, so nobody aborts it;
* the abort itself (a second interrupt must not cancel it).

Inside :func:`shielded` a signal is recorded instead of raised (Dagster's own
``capture_interrupts``), and the caller checks :meth:`Shield.interrupted` afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flyte_remote_core.orchestration import RunLike, abort_quietly_sync

__all__ = ["Shield", "abort_run", "shielded"]


class Shield:
    """What happened while shielded."""

    def __init__(self) -> None:
        self.interrupted = False


@contextlib.contextmanager
def shielded() -> Iterator[Shield]:
    """Record (do not raise) interrupts for the duration; a no-op off the main thread."""
    shield = Shield()
    try:  # not exported from ``dagster``; present since 0.x and unchanged in 1.13
        from dagster._utils.interrupts import capture_interrupts, pop_captured_interrupt
    except ImportError:  # pragma: no cover - then sections are simply not shielded
        yield shield
        return
    with capture_interrupts():
        try:
            yield shield
        finally:
            # capture_interrupts forgets the signal on exit, so read it before leaving.
            shield.interrupted = pop_captured_interrupt() or shield.interrupted


def interrupted_error() -> BaseException:
    """The exception Dagster would have raised for an interrupt we held back."""
    import dagster as dg

    return dg.DagsterExecutionInterruptedError()


def abort_run(run: RunLike, reason: str) -> bool:
    """Abort ``run`` (shielded); True if the backend accepted it, False otherwise (never raises)."""
    with shielded():
        return abort_quietly_sync(run, reason)
