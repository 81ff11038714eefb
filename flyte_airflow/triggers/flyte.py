"""FlyteRunTrigger: wait for a Flyte run in the triggerer.

All triggers of one triggerer share, per connection and event loop, one long-lived
FlyteClient and the core's shared watcher (one ``WatchRuns`` stream per project and
domain), kept open a while after the last trigger on it ended, so hundreds of deferred
Flyte tasks, in waves, never hit the server's per-connection stream limit.

The trigger enforces the operator's deadline itself: at the deadline it yields the
deadline event at once and aborts the run in the background, so the task fails on time
even when the backend takes long to abort.

FlyteRunEventTrigger is the event-driven side (``AssetWatcher``): it fires once for each run
of a project and domain that reaches one of its phases. Watchers on one connection, project
and domain share one Airflow shared stream (Airflow >= 3.3), which reads the core's
``FlyteClient.watch_runs`` over the same shared ``WatchRuns`` stream the waits use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from flyte_airflow._event import DEADLINE, DEADLINE_LIMIT, FlyteRunEvent
from flyte_airflow.hooks.flyte import FlyteHook
from flyte_airflow.triggers._events import FlyteRunEventTrigger as FlyteRunEventTrigger  # its public home
from flyte_remote_core.orchestration import deadline_message

# How long the trigger waits for its deadline abort to be accepted before it reports anyway.
ABORT_REPORT_WAIT_S = 2.0
# How far past the deadline the wait may run before the trigger stops it (a slow lookup).
DEADLINE_GRACE_S = 1.0
# Aborts still running after their trigger yielded (held so they finish).
_ABORTS: set[asyncio.Task[Any]] = set()


class FlyteRunTrigger(BaseTrigger):
    """Fire once the run ``run_name`` ends (or, with ``wait_for="running"``, starts running).

    The event payload is a :class:`flyte_airflow._event.FlyteRunEvent` dict with the run's
    name, URL, phase, JSON-safe outputs (when ``fetch_outputs``) or error kind, code and
    message. At ``deadline`` (epoch seconds) a ``deadline`` event fires and the run is
    aborted (``abort_on_deadline``). No other event fires before ``not_before`` (epoch seconds):
    an event that comes within a second of deferring races Airflow 3.3's scheduler
    (apache/airflow #67287). When a user marks the deferred task failed or clears it,
    :meth:`on_kill` aborts the run if ``cancel_on_kill``.
    """

    def __init__(
        self,
        run_name: str,
        flyte_conn_id: str = "flyte_default",
        project: str | None = None,
        domain: str | None = None,
        deadline: float | None = None,
        wait_for: str = "terminal",
        fetch_outputs: bool = True,
        abort_on_deadline: bool = True,
        cancel_on_kill: bool = True,
        not_before: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if wait_for not in ("terminal", "running"):
            raise ValueError(f"wait_for must be 'terminal' or 'running', got {wait_for!r}")
        self.run_name = run_name
        self.flyte_conn_id = flyte_conn_id
        self.project = project
        self.domain = domain
        self.deadline = float(deadline) if deadline is not None else None
        self.wait_for = wait_for
        self.fetch_outputs = fetch_outputs
        self.abort_on_deadline = abort_on_deadline
        self.cancel_on_kill = cancel_on_kill
        self.not_before = float(not_before) if not_before is not None else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_name": self.run_name,
                "flyte_conn_id": self.flyte_conn_id,
                "project": self.project,
                "domain": self.domain,
                "deadline": self.deadline,
                "wait_for": self.wait_for,
                "fetch_outputs": self.fetch_outputs,
                "abort_on_deadline": self.abort_on_deadline,
                "cancel_on_kill": self.cancel_on_kill,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = FlyteHook(self.flyte_conn_id)
        try:
            async with hook.shared_client() as client:
                event = await self._wait(hook, client)
        except Exception as exc:  # a bad connection: report it instead of crashing the triggerer loop
            outcome = hook.outcome(exc)
            event = FlyteRunEvent.from_outcome(
                outcome, run_name=self.run_name, project=self.project or "", domain=self.domain or ""
            ).replace(message=f"connection {self.flyte_conn_id!r}: {outcome.message}")
        if event.status == DEADLINE and self.abort_on_deadline:
            event = await self._abort_at_deadline(event)
        # A deadline event is never held: the task fails either way, and it must fail on time.
        if event.status != DEADLINE and self.not_before is not None and (hold := self.not_before - time.time()) > 0:
            await asyncio.sleep(hold)
        self.log.info("Flyte run %s: %s %s", self.run_name, event.status, event.phase)
        yield TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]

    async def _wait(self, hook: FlyteHook, client: Any) -> FlyteRunEvent:
        """The run's event; at the deadline (plus a grace for a slow lookup) a deadline event, never an abort."""
        waiting = hook.await_event(
            client,
            self.run_name,
            project=self.project,
            domain=self.domain,
            deadline=self.deadline,
            wait_for=self.wait_for,
            fetch_outputs=self.fetch_outputs,
            abort_on_deadline=False,  # the abort is ours, after the event is settled (_abort_at_deadline)
        )
        if self.deadline is None:
            return await waiting
        try:
            return await asyncio.wait_for(waiting, max(0.001, self.deadline - time.time()) + DEADLINE_GRACE_S)
        except TimeoutError:
            return FlyteRunEvent(
                status=DEADLINE,
                run_name=self.run_name,
                run_url=client.run_url(self.run_name, project=self.project, domain=self.domain),
                project=self.project or "",
                domain=self.domain or "",
                message=deadline_message(self.run_name, aborted=None, limit=DEADLINE_LIMIT),
                retryable=True,
                outcome="deadline",
            )

    async def _abort_at_deadline(self, event: FlyteRunEvent) -> FlyteRunEvent:
        """Abort the run in the background; report within ``ABORT_REPORT_WAIT_S`` whatever is known by then."""
        task = asyncio.get_running_loop().create_task(self._abort("the task's timeout passed while deferred"))
        _ABORTS.add(task)
        task.add_done_callback(_ABORTS.discard)
        aborted: bool | None = None
        try:
            aborted = await asyncio.wait_for(asyncio.shield(task), ABORT_REPORT_WAIT_S)
        except TimeoutError:
            pass
        except Exception:
            aborted = False
        message = deadline_message(self.run_name, aborted=aborted, last_phase=event.phase or None, limit=DEADLINE_LIMIT)
        if aborted is None:  # not settled yet, or the run had just ended by itself
            fate = "the run had already ended" if task.done() else "the run is being aborted"
            message = message.replace("the run goes on (it was not aborted)", fate)
        return event.replace(message=message)

    async def _abort(self, reason: str) -> bool | None:
        hook = FlyteHook(self.flyte_conn_id)
        async with hook.shared_client() as client:
            return await hook.abort_active(
                client, self.run_name, project=self.project, domain=self.domain, reason=reason
            )

    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: abort the remote run."""
        if not self.cancel_on_kill:
            return
        hook = FlyteHook(self.flyte_conn_id)
        async with hook.shared_client() as client:
            aborted = await hook.abort_active(
                client,
                self.run_name,
                project=self.project,
                domain=self.domain,
                reason="The Airflow task was killed while deferred",
            )
            url = client.run_url(self.run_name, project=self.project, domain=self.domain)
        if aborted:
            self.log.info("Aborted Flyte run %s", self.run_name)
        elif aborted is False:
            self.log.warning("Could not abort Flyte run %s (%s); it may still be running", self.run_name, url)
