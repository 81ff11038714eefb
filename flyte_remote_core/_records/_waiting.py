"""Waiting for, watching and tailing the logs of an action, for the records that have one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from flyteidl2.workflow import run_definition_pb2

from .._errors import ConfigurationError, WaitTimeoutError
from .._phases import Phase
from .._transport import RECONNECT, is_transient
from ._data import run_error
from ._progress import WaitPanel

if TYPE_CHECKING:
    from .._services import Services

WaitFor = Literal["terminal", "running"]


async def wait_action(
    services: Services,
    action_id: Any,
    *,
    quiet: bool,
    wait_for: str,
    timeout: float | None,
    known: tuple[Any, float] | None = None,
) -> Any:
    """Wait through the shared watcher; returns the last ``ActionStatus`` seen.

    No extra read happens on success: with thousands of waits, one GetActionDetails per
    finished run would cost more than the notification itself. ``known`` is a status the
    caller read and when it sent that read (see :meth:`SharedWatcher.wait`).
    """
    if wait_for not in ("terminal", "running"):
        raise ConfigurationError(f"wait_for must be 'terminal' or 'running', got {wait_for!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")

    def until(phase: Phase) -> bool:
        return phase.is_terminal or (wait_for == "running" and phase is Phase.RUNNING)

    run = action_id.run
    url = services.run_url(run.name, project=run.project, domain=run.domain)
    last: list[tuple[Phase, Any]] = []
    with WaitPanel(run_name=run.name, url=url, quiet=quiet) as panel:

        def on_status(phase: Phase, status: Any) -> None:
            last.append((phase, status))
            panel.phase(phase, status)

        try:
            await asyncio.wait_for(services.watcher().wait(action_id, until, on_status, known=known), timeout)
        except TimeoutError:  # TimeoutError's alias from 3.11; a distinct class on 3.10
            raise WaitTimeoutError(run.name, timeout or 0, last[-1][0].value if last else None) from None
        phase, status = last[-1]
        if not quiet and phase.is_terminal and not phase.is_success:
            panel.fail(str(run_error(await services.runs.action_details(action_id), url)))
    return status


async def watch_action(services: Services, action_id: Any) -> AsyncIterator[run_definition_pb2.ActionDetails]:
    """WatchActionDetails with reconnects: re-reads state after every gap, ends at terminal."""
    failures = 0
    while True:
        try:
            async for message in services.runs.watch_action(action_id):
                failures = 0
                yield message.details
                if Phase.from_raw(message.details.status.phase).is_terminal:
                    return
        except Exception as exc:
            if not is_transient(exc):
                raise
        # A clean close before a terminal phase, or a transient failure: re-read and go on.
        await asyncio.sleep(RECONNECT.backoff(failures))
        failures += 1


async def tail_logs(services: Services, action_id: Any, *, attempt: int | None, follow: bool) -> AsyncIterator[str]:
    """The lines of an action's log (of its latest attempt unless one is named)."""
    if attempt is None:
        attempt = max(1, (await services.runs.action_details(action_id)).status.attempts)
    async for lines in services.data.tail_logs(action_id, attempt):
        for line in lines:
            yield line
        if not follow:
            return
