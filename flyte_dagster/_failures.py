"""Turning what the core raises into ``dagster.Failure``, with the retry decision the core makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from ._results import failure_for

__all__ = ["failure_from_error", "timeout_failure"]


def failure_from_error(exc: BaseException, task_name: str, run: Any, *, secrets: Sequence[str | None] = (),
                       output_types_given: bool = False) -> dg.Failure:
    """The ``dagster.Failure`` for an exception raised while launching or waiting.

    Whether Dagster may retry is the core's call, shared with the Airflow provider:
    ``RunError.retryable`` (only a FAILED run with a SYSTEM error) and
    ``RemoteError.retryable`` (transport trouble: UNAVAILABLE, DEADLINE_EXCEEDED, ...).
    """
    from flyte_remote_core import FlyteInputError, NotFoundError, RemoteError, RunError, redact

    def clean(text: str) -> str:
        return redact(text, *secrets)

    url = getattr(run, "url", None)
    name = getattr(run, "name", None)
    if isinstance(exc, RunError):
        return failure_for(
            clean(f"Flyte run {exc.run_name} of {task_name} ended {exc.phase}"
                  + (f" with a {exc.kind} error" if exc.kind else "") + (f": {exc.message}" if exc.message else "")),
            run_name=exc.run_name, url=exc.url or url, phase=exc.phase, kind=exc.kind, code=exc.code,
            message=clean(exc.message), task_name=task_name, allow_retries=exc.retryable,
        )
    if isinstance(exc, FlyteInputError):
        return failure_for(clean(f"Flyte task {task_name}: {exc}"), task_name=task_name, message=clean(str(exc)),
                           kind="INPUT", allow_retries=False)
    if isinstance(exc, NotFoundError) and run is None:  # unknown task or project: a retry cannot help
        return failure_for(clean(f"Flyte task {task_name}: {exc}"), task_name=task_name, message=clean(str(exc)),
                           kind="NOT_FOUND", allow_retries=False)
    if isinstance(exc, RemoteError):
        return failure_for(clean(f"Flyte call failed for task {task_name}: {exc}"), run_name=name, url=url,
                           task_name=task_name, kind="TRANSPORT", code=getattr(exc.code, "name", None),
                           message=clean(str(exc)), allow_retries=exc.retryable)
    if output_types_given and isinstance(exc, (TypeError, ValueError)):
        # The run SUCCEEDED but its outputs do not fit the given classes; a retry would
        # reuse the same run and fail the same way.
        return failure_for(clean(f"Flyte task {task_name}: the outputs of run {name} do not fit output_types: {exc}"),
                           run_name=name, url=url, task_name=task_name, kind="OUTPUT_TYPE", message=clean(str(exc)),
                           allow_retries=False)
    return failure_for(clean(f"Flyte task {task_name} failed in the client: {type(exc).__name__}: {exc}"),
                       run_name=name, url=url, task_name=task_name, message=clean(str(exc)), allow_retries=True)


def timeout_failure(exc: Any, task_name: str, run: Any, *, timeout_s: float, aborted: bool) -> dg.Failure:
    """``wait_timeout_s`` passed. ``aborted`` says whether the backend accepted the abort, so the
    message never claims an abort that did not happen (the run may still be running then)."""
    outcome = ("the remote run was aborted" if aborted else
               "aborting the remote run FAILED: it may still be running, abort it by hand")
    return failure_for(
        f"Flyte run {exc.run_name} of {task_name} did not finish within {timeout_s:g} s (wait_timeout_s); {outcome}",
        run_name=exc.run_name, url=getattr(run, "url", None), phase=exc.phase, kind="TIMEOUT", message=str(exc),
        task_name=task_name, allow_retries=True,
        extra={"dagster-flyte/aborted": dg.MetadataValue.bool(aborted)},
    )
