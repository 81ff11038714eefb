"""What ``FlyteRunOperator.on_kill`` needs to know about a launch that may be in flight.

A kill can land between CreateRun being sent and its answer reaching the operator: the
run then exists remotely while the operator does not know its name yet. Two cases:

* ``on_kill`` runs on another thread than ``execute``: it waits (bounded) for the
  launch to finish, then aborts the run it produced (nothing, if the launch failed).
* ``on_kill`` runs on the thread that is launching. This is how Airflow 3.3 calls it:
  the task runner's SIGTERM handler runs on the main thread, in the middle of whatever
  ``execute`` was doing. Waiting there would wait for ourselves, so ``on_kill`` only
  marks the try as killed; when the launch returns, ``execute`` aborts the run it got
  and fails.

Whichever of the two sees the run first aborts it; the other does not abort it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# How long on_kill waits for a launch in flight on another thread before giving up on it
# (then execute aborts the run when the launch returns, if the process is still alive).
LAUNCH_WAIT_SECONDS = 15.0


class LaunchGuard:
    """Created per ``execute``. A copied (or pickled) operator gets a fresh one: it has no launch in flight."""

    def __init__(self) -> None:
        self.killed = False
        self._done = threading.Event()
        self._done.set()
        self._launcher: int | None = None
        # Re-entrant: on_kill may run in a signal handler on a thread that holds it.
        self._lock = threading.RLock()
        self._claimed: set[str] = set()

    def __reduce__(self) -> tuple[type[LaunchGuard], tuple[()]]:
        return LaunchGuard, ()

    @contextmanager
    def launching(self) -> Iterator[None]:
        """Mark a launch in flight on this thread until the block exits (normally or not)."""
        self._launcher = threading.get_ident()
        self._done.clear()
        try:
            yield
        finally:
            self._launcher = None
            self._done.set()

    def in_flight(self) -> bool:
        return not self._done.is_set()

    def wait_for_launch(self, timeout: float = LAUNCH_WAIT_SECONDS) -> bool:
        """True once no launch is in flight; False if the launch is this thread's own (it cannot be
        waited for) or still running after ``timeout``."""
        if self._launcher is not None and self._launcher == threading.get_ident():
            return False
        return self._done.wait(timeout)

    def claim_abort(self, run_name: str) -> bool:
        """True for the first caller that wants to abort ``run_name`` on a kill."""
        with self._lock:
            if run_name in self._claimed:
                return False
            self._claimed.add(run_name)
            return True
