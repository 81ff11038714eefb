"""Launch-wait-collect, the way orchestrator steps need it; shared by the Airflow and Dagster integrations.

One function, :func:`run_to_completion`, does what an orchestrator step does with a
Flyte task: launch or attach idempotently, report the run (name, URL) before waiting,
stream the remote logs, wait through the shared watcher until the run ends or an
absolute deadline passes (then abort the run), and return typed outputs or raise a
typed error. Cancellation (a killed Airflow task, a terminated Dagster run) is the
caller's to catch; :func:`abort_quietly` is the one way both abort on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import WaitTimeoutError

if TYPE_CHECKING:
    from .._client import FlyteClient
    from .._run import Run
    from ._launch import LaunchOutcome

log = logging.getLogger("flyte_remote_core.orchestrate")


@dataclass(frozen=True)
class RunResult:
    """What a finished, successful run gave back."""

    run_name: str
    url: str
    phase: str
    outputs: dict[str, Any]
    json_outputs: dict[str, Any]
    duration_s: float
    attempts: int
    launch: str  # "launched" | "attached" | "reused"
    project: str = ""
    domain: str = ""
    task_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


async def run_to_completion(
    client: FlyteClient,
    task: Any,
    inputs: Mapping[str, Any] | None = None,
    *,
    key: str,
    attempt: int = 1,
    prefix: str = "r",
    deadline: float | None = None,
    on_launched: Callable[[Run, LaunchOutcome], None] | None = None,
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
    outcome = await client.launch_or_attach.aio(task, dict(inputs or {}), key=key, attempt=attempt, prefix=prefix,
                                                version=version, project=project, domain=domain, **run_options)
    run = outcome.run
    if on_launched is not None:
        on_launched(run, outcome)
    return await wait_for_result(client, run, launch=outcome.action, deadline=deadline, log_line=log_line,
                                 started=started, output_types=output_types)


async def wait_for_result(
    client: FlyteClient,
    run: Run,
    *,
    launch: str = "attached",
    deadline: float | None = None,
    log_line: Callable[[str], None] | None = None,
    started: float | None = None,
    output_types: Mapping[str, Any] | None = None,
) -> RunResult:
    """Wait for an existing run; see :func:`run_to_completion`."""
    started = time.monotonic() if started is None else started
    tail: asyncio.Task[None] | None = None
    if log_line is not None and not run.done():
        tail = asyncio.get_running_loop().create_task(_follow_logs(run, log_line))
    try:
        timeout = None if deadline is None else max(0.001, deadline - time.time())
        try:
            await run.wait.aio(quiet=True, timeout=timeout)
        except WaitTimeoutError as exc:
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
    outputs = await run.outputs.aio(output_types)  # raises RunFailedError / RunAbortedError / RunTimedOutError
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


async def _follow_logs(run: Run, log_line: Callable[[str], None]) -> None:
    # Logs are a convenience: a backend without TailLogs, or a broken log stream, must not fail the step.
    try:
        async for line in run.logs.aio(follow=True):
            log_line(line)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("log streaming for %s stopped: %s", run.name, exc)


async def abort_quietly(run: Run, reason: str) -> bool:
    """Abort a run, logging (not raising) failures; returns True if the abort was accepted."""
    try:
        await run.abort.aio(reason)
        return True
    except Exception as exc:  # best effort on the way out
        log.warning("could not abort Flyte run %s: %s", run.name, exc)
        return False
