"""``task_options``: retries and a timeout on a plain function, without wrapping it.

Standard library only: a tasks module imports this in every worker process, so it must
stay cheap to import.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["OPTIONS_ATTR", "TaskOptions", "options_of", "task_options"]

OPTIONS_ATTR = "__devserver_task_options__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskOptions:
    retries: int = 0
    timeout: float | None = None  # seconds


def task_options(*, retries: int = 0, timeout: float | _dt.timedelta | None = None) -> Callable[[F], F]:
    """Set retries and a timeout (seconds or timedelta) on a plain function.

    Returns the function itself (no wrapper), so signatures, pickling and direct calls
    are unaffected.
    """
    if not _is_int(retries) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    seconds: float | None
    if timeout is None:
        seconds = None
    elif isinstance(timeout, _dt.timedelta):
        seconds = timeout.total_seconds()
    elif _is_number(timeout):
        seconds = float(timeout)
    else:
        raise ValueError(f"timeout must be seconds or a timedelta, got {timeout!r}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    opts = TaskOptions(retries=retries, timeout=seconds)

    def apply(func: F) -> F:
        setattr(func, OPTIONS_ATTR, opts)
        return func

    return apply


def _is_int(value: object) -> bool:
    # Checked at run time too: a tasks module is plain Python, nothing checks its types.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float)


def options_of(func: Callable[..., Any]) -> TaskOptions:
    """The options set on ``func`` (the defaults when none were)."""
    found = getattr(func, OPTIONS_ATTR, None)
    return found if isinstance(found, TaskOptions) else TaskOptions()
