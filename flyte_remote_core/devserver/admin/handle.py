"""The in-process admin API: :class:`AdminHandle` (``server.admin``), thread-safe.

Standard library only at import (the rest is for type checkers): a ``DevServer`` is
cheap to import and builds its handle before anything else exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from .control import StatusLike
    from .ops import AdminOps

T = TypeVar("T")


class OnLoop(Protocol):
    """Runs ``fn(ops)`` on the server's event loop and returns its result (from any thread).

    Raises RuntimeError while the server is not running. The server provides it.
    """

    def __call__(self, fn: Callable[[AdminOps], T], /) -> T: ...


class AdminHandle:
    """In-process admin API (thread-safe; each call hops onto the server's loop).

    Same operations as the AdminService RPCs::

        server.admin.hold("my-run")            # keep it RUNNING until released
        server.admin.hold(all_new_runs=True)
        server.admin.release("my-run")         # or release() for everything
        server.admin.fail_next("CreateRun", "UNAVAILABLE", count=2)
        server.admin.drop_streams()            # every open stream ends with UNAVAILABLE
        server.admin.call_count("WatchActionDetails"); server.admin.counters()
        server.admin.reset_counters()
    """

    def __init__(self, on_loop: OnLoop) -> None:
        self._on_loop = on_loop

    def hold(self, *run_names: str, all_new_runs: bool = False) -> None:
        self._on_loop(lambda ops: ops.hold(list(run_names), all_new_runs))

    def release(self, *run_names: str) -> int:
        """Release the named runs, or every held run (and end "hold all") with no names."""
        return self._on_loop(lambda ops: ops.release(list(run_names) if run_names else None))

    def release_all(self) -> int:
        return self._on_loop(lambda ops: ops.release(None))

    def fail_next(self, method: str, code: StatusLike, count: int = 1, message: str = "") -> None:
        self._on_loop(lambda ops: ops.fail_next(method, code, count, message))

    def clear_faults(self) -> None:
        self._on_loop(lambda ops: ops.clear_faults())

    def drop_streams(self, message: str = "") -> int:
        return self._on_loop(lambda ops: ops.drop_streams(message))

    def counters(self) -> dict[str, int]:
        return self._on_loop(lambda ops: ops.counters())

    def call_count(self, method: str) -> int:
        return self._on_loop(lambda ops: ops.call_count(method))

    def reset_counters(self) -> None:
        self._on_loop(lambda ops: ops.reset_counters())

    def status(self) -> dict[str, Any]:
        return self._on_loop(lambda ops: ops.status())
