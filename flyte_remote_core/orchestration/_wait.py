"""Launch-wait-collect, the way orchestrator steps need it; shared by the Airflow and Dagster integrations.

One function, :func:`run_to_completion`, does what an orchestrator step does with a
Flyte task: launch or attach idempotently, report the run (name, URL) before waiting,
stream the remote logs, wait through the shared watcher until the run ends or an
absolute deadline passes (then abort the run), and return typed outputs or raise a
typed error. Cancellation (a killed Airflow task, a terminated Dagster run) is the
caller's to catch; :func:`abort_quietly` (and its blocking twin) is the one way every
integration aborts on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import FlyteError, WaitTimeoutError
from ._launch import LaunchOutcome, launch_or_attach
from ._outcome import OutputTypeError, RunResult
from ._protocols import ClientLike, RunLike, TaskLike

__all__ = ["abort_named", "abort_quietly", "abort_quietly_sync", "run_to_completion", "wait_for_result"]

log = logging.getLogger("flyte_remote_core.orchestrate")

# How long an abort on the way out may take before the caller gives up on it.
ABORT_TIMEOUT_S = 20.0


async def run_to_completion(
    client: ClientLike,
    task: TaskLike | str,
    inputs: Mapping[str, Any] | None = None,
    *,
    key: str,
    attempt: int = 1,
    prefix: str = "r",
    deadline: float | None = None,
    on_launched: Callable[[RunLike, LaunchOutcome], None] | None = None,
    log_line: Callable[[str], None] | None = None,
    output_types: Mapping[str, Any] | None = None,
    version: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    **run_options: Any,
) -> RunResult:
    """Launch or attach, wait until terminal or ``deadline`` (epoch seconds), return outputs.

    Past the deadline the run is aborted and :class:`WaitTimeoutError` is raised; its
    ``aborted`` attribute says whether the abort was accepted.
    A run that ends FAILED, ABORTED or TIMED_OUT raises the matching ``RunError``.
    """
    started = time.monotonic()
    outcome = await launch_or_attach(
        client,
        task,
        inputs,
        key=key,
        attempt=attempt,
        prefix=prefix,
        version=version,
        project=project,
        domain=domain,
        **run_options,
    )
    run = outcome.run
    if on_launched is not None:
        on_launched(run, outcome)
    return await wait_for_result(
        client,
        run,
        launch=outcome.action,
        deadline=deadline,
        log_line=log_line,
        started=started,
        output_types=output_types,
    )


async def wait_for_result(
    client: ClientLike | None,
    run: RunLike,
    *,
    launch: str = "attached",
    deadline: float | None = None,
    abort_on_deadline: bool = True,
    log_line: Callable[[str], None] | None = None,
    started: float | None = None,
    output_types: Mapping[str, Any] | None = None,
) -> RunResult:
    """Wait for an existing run; see :func:`run_to_completion`.

    With ``abort_on_deadline=False`` (a sensor watching someone else's run) a passed
    deadline raises :class:`WaitTimeoutError` with ``aborted`` None and the run goes on.
    Outputs that do not fit ``output_types`` raise :class:`OutputTypeError`.
    """
    started = time.monotonic() if started is None else started
    tail: asyncio.Task[None] | None = None
    if log_line is not None and not run.done():
        tail = asyncio.get_running_loop().create_task(_follow_logs(run, log_line))
    try:
        timeout = None if deadline is None else max(0.001, deadline - time.time())
        try:
            await run.wait.aio(quiet=True, timeout=timeout)
        except WaitTimeoutError as exc:
            if abort_on_deadline:
                exc.aborted = await abort_quietly(run, f"deadline passed after {time.monotonic() - started:.0f}s")
            raise
    finally:
        if tail is not None:
            # Give the log stream a moment to deliver the last lines, then stop it.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(tail), 1.0)
            tail.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await tail
    try:
        outputs = await run.outputs.aio(output_types)  # raises RunFailedError / RunAbortedError / RunTimedOutError
    except FlyteError:
        raise
    except (TypeError, ValueError) as exc:
        if not output_types:
            raise
        raise OutputTypeError(run.name, exc) from exc
    return RunResult(
        run_name=run.name,
        url=run.url,
        phase=run.phase.value,
        outputs=outputs.named,
        json_outputs=outputs.to_dict(),
        duration_s=round(time.monotonic() - started, 3),
        attempts=run.attempts,
        launch=launch,
        project=run.project,
        domain=run.domain,
        task_name=run.task_name or "",
    )


async def _follow_logs(run: RunLike, log_line: Callable[[str], None]) -> None:
    # Logs are a convenience: a backend without TailLogs, or a broken log stream, must not fail the step.
    try:
        async for line in run.logs.aio(follow=True):
            log_line(line)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("log streaming for %s stopped: %s", run.name, exc)


def _abort_failed(run_name: str, exc: BaseException) -> bool:
    log.warning("could not abort Flyte run %s: %s", run_name, str(exc) or type(exc).__name__)
    return False


async def abort_quietly(run: RunLike, reason: str) -> bool:
    """Abort a run, logging (not raising) failures; returns True if the abort was accepted."""
    try:
        await run.abort.aio(reason)
    except Exception as exc:  # best effort on the way out
        return _abort_failed(run.name, exc)
    return True


def abort_quietly_sync(run: RunLike, reason: str) -> bool:
    """:func:`abort_quietly` for blocking code (the run's client does the call on its own loop)."""
    try:
        run.abort(reason)
    except Exception as exc:  # best effort on the way out
        return _abort_failed(run.name, exc)
    return True


async def abort_named(
    client: ClientLike,
    run_name: str,
    *,
    project: str | None = None,
    domain: str | None = None,
    reason: str,
    only_if_active: bool = True,
    timeout: float = ABORT_TIMEOUT_S,
) -> bool | None:
    """Look the run up by name and abort it, within ``timeout`` seconds per call, never raising.

    True if the abort was accepted, False if it failed (logged), None if ``only_if_active``
    and the run had already ended (nothing to abort).
    """
    try:
        run = await asyncio.wait_for(client.get_run.aio(run_name, project=project, domain=domain), timeout)
    except Exception as exc:  # not found, unreachable, too slow: nothing was aborted
        return _abort_failed(run_name, exc)
    if only_if_active and run.done():
        return None
    try:
        return await asyncio.wait_for(abort_quietly(run, reason), timeout)
    except TimeoutError as exc:
        return _abort_failed(run_name, exc)
