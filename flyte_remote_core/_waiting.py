"""Waiting, watching and log streaming for runs and actions: the client's streaming side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ._action import ActionDetails
from ._errors import ConfigurationError, WaitTimeoutError
from ._phases import Phase

if TYPE_CHECKING:
    from ._rpc import Rpc


class WaitingMixin:
    """Mixed into :class:`FlyteClient`; relies on its ``_rpc``, ``config`` and detail readers."""

    _rpc: Rpc
    config: Any
    _make_channel: Any
    _action_details: Any
    _run_error: Any
    _select_cluster: Any
    run_url: Any

    # -- waiting ---------------------------------------------------------------------------
    def _watcher(self) -> Any:
        from ._watcher import shared_watcher

        return shared_watcher(self.config.key(), self._make_channel)

    async def _wait_action(self, action_id: Any, *, quiet: bool, wait_for: str, timeout: float | None) -> Any:
        """Wait through the shared watcher; returns the last ``ActionStatus`` seen.

        No extra read happens on success: with thousands of waits, one GetActionDetails per
        finished run would cost more than the notification itself.
        """
        from ._progress import WaitPanel

        if wait_for not in ("terminal", "running"):
            raise ConfigurationError(f"wait_for must be 'terminal' or 'running', got {wait_for!r}")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")

        def until(phase: Phase) -> bool:
            return phase.is_terminal or (wait_for == "running" and phase is Phase.RUNNING)

        url = self.run_url(action_id.run.name, project=action_id.run.project, domain=action_id.run.domain)
        last: list[tuple[Phase, Any]] = []
        with WaitPanel(run_name=action_id.run.name, url=url, quiet=quiet) as panel:
            def on_status(phase: Phase, status: Any) -> None:
                last.append((phase, status))
                panel.phase(phase, status)

            try:
                await asyncio.wait_for(self._watcher().wait(action_id, until, on_status), timeout)
            except asyncio.TimeoutError:
                raise WaitTimeoutError(action_id.run.name, timeout or 0, last[-1][0].value if last else None) from None
            phase, status = last[-1]
            if not quiet and phase.is_terminal and not phase.is_success:
                panel.fail(str(self._run_error(await self._action_details(action_id))))
        return status

    async def _watch_action(self, action_id: Any) -> AsyncIterator[ActionDetails]:
        """WatchActionDetails with reconnects: re-reads state after every gap, ends at terminal."""
        from flyteidl2.workflow import run_service_pb2

        from ._rpc import RetryPolicy, is_transient

        backoff = RetryPolicy(attempts=1_000_000, initial_backoff=0.05, max_backoff=5.0)
        request = run_service_pb2.WatchActionDetailsRequest(action_id=action_id)
        failures = 0
        while True:
            try:
                async for message in self._rpc.stream("run", "WatchActionDetails", request,
                                                      entity=f"run {action_id.run.name}"):
                    failures = 0
                    details = ActionDetails(message.details, client=self)
                    yield details
                    if details.done():
                        return
            except Exception as exc:
                if not is_transient(exc):
                    raise
            # A clean close before a terminal phase, or a transient failure: re-read and go on.
            await asyncio.sleep(backoff.backoff(failures))
            failures += 1

    async def _abort_run(self, run_id: Any, reason: str) -> None:
        from flyteidl2.workflow import run_service_pb2

        await self._rpc.call("run", "AbortRun", run_service_pb2.AbortRunRequest(run_id=run_id, reason=reason),
                             entity=f"run {run_id.name} in {run_id.project}/{run_id.domain}")

    async def _tail_logs(self, action_id: Any, *, attempt: int | None, follow: bool) -> AsyncIterator[str]:
        from flyteidl2.dataproxy import dataproxy_service_pb2

        if attempt is None:
            attempt = max(1, (await self._action_details(action_id)).attempts)
        await self._select_cluster("OPERATION_TAIL_LOGS", action_id.run.project, action_id.run.domain)
        request = dataproxy_service_pb2.TailLogsRequest(action_id=action_id, attempt=attempt)
        async for message in self._rpc.stream("dataproxy", "TailLogs", request, entity=f"logs of run {action_id.run.name}"):
            for logs in message.logs:
                for line in logs.lines:
                    yield line.message
            if not follow:
                return
