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
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from flyte_airflow._event import DEADLINE, DEADLINE_LIMIT, FlyteRunEvent
from flyte_airflow.hooks.flyte import FlyteHook
from flyte_remote_core.orchestration import deadline_message

# How long the trigger waits for its deadline abort to be accepted before it reports anyway.
ABORT_REPORT_WAIT_S = 2.0
# How far past the deadline the wait may run before the trigger stops it (a slow lookup).
DEADLINE_GRACE_S = 1.0
# Aborts still running after their trigger yielded (held so they finish).
_ABORTS: set[asyncio.Task[Any]] = set()
log = logging.getLogger(__name__)
# How many fired run names an event trigger remembers (so a run never fires twice).
EVENT_MEMORY = 100_000


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


def _event_phases(phases: Any) -> tuple[str, ...]:
    """The phases as canonical names (``"succeeded"`` -> ``"SUCCEEDED"``), in order, once each."""
    from flyte_remote_core import Phase

    items = [phases] if isinstance(phases, str) else phases
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"FlyteRunEventTrigger: phases must be a list of phase names, got {phases!r}") from None
    if not items:
        raise ValueError("FlyteRunEventTrigger: phases must name at least one phase (for example 'SUCCEEDED')")
    names: list[str] = []
    for item in items:
        phase = None
        if isinstance(item, str):
            try:
                phase = Phase.parse(item)
            except ValueError:
                phase = None
        if phase is None or phase is Phase.UNSPECIFIED:
            valid = ", ".join(p.value for p in Phase if p is not Phase.UNSPECIFIED)
            raise ValueError(f"FlyteRunEventTrigger: unknown phase {item!r} in phases; expected one of {valid}")
        if phase.value not in names:
            names.append(phase.value)
    return tuple(names)


def _optional_name(what: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"FlyteRunEventTrigger: {what} must be a non-empty string or None, got {value!r}")
    return value.strip()


class FlyteRunEventTrigger(BaseEventTrigger):
    """Fire once for each Flyte run that reaches one of ``phases`` after the watch began.

    For event-driven scheduling: ``Asset(..., watchers=[AssetWatcher(name=..., trigger=
    FlyteRunEventTrigger(...))])`` in a DAG's ``schedule`` gives one asset event per run, its
    ``extra["payload"]`` the run's ``run_name``, ``phase``, ``url``, ``task_name``, ``project``,
    ``domain``, ``attempts``, ``previous_phase``, ``ended_at`` (and ``resynced``). Only runs
    of ``task_name`` fire when it is given. Runs that ended before the watch began fire nothing.

    Watchers on one connection, project and domain share one stream: Airflow's shared stream
    (``shared_stream_key``) in one triggerer, and beneath it the core's shared ``WatchRuns``
    stream (``FlyteClient.watch_runs``). A reconnect (a cut stream, a restarted backend)
    neither loses nor repeats an event: the core re-lists the runs and reports those that
    changed meanwhile once, and each trigger fires a run name at most once.

    :param flyte_conn_id: the Airflow connection (type ``flyte``).
    :param project: the Flyte project (the connection's when None).
    :param domain: the Flyte domain (the connection's when None).
    :param task_name: only runs of this task (e.g. ``"tasks.train"``); all runs when None.
    :param phases: the phases that fire (default ``("SUCCEEDED",)``); any of ``SUCCEEDED``,
        ``FAILED``, ``ABORTED``, ``TIMED_OUT``, ``RECOVERED``, and non-terminal ones like
        ``RUNNING``. A run fires once, at the first of these phases it reaches.
    """

    def __init__(
        self,
        flyte_conn_id: str = "flyte_default",
        project: str | None = None,
        domain: str | None = None,
        task_name: str | None = None,
        phases: Iterable[str] | str = ("SUCCEEDED",),
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        conn_id = _optional_name("flyte_conn_id", flyte_conn_id)
        if conn_id is None:
            raise ValueError("FlyteRunEventTrigger: flyte_conn_id must name an Airflow connection")
        self.flyte_conn_id = conn_id
        self.project = _optional_name("project", project)
        self.domain = _optional_name("domain", domain)
        self.task_name = _optional_name("task_name", task_name)
        self.phases = _event_phases(phases)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # Lists, not tuples: watchers with the same arguments must serialize alike to merge.
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "flyte_conn_id": self.flyte_conn_id,
                "project": self.project,
                "domain": self.domain,
                "task_name": self.task_name,
                "phases": list(self.phases),
            },
        )

    def shared_stream_key(self) -> Hashable | None:
        """Watchers on one connection, project and domain read one stream (Airflow >= 3.3)."""
        return ("flyte-run-events", self.flyte_conn_id, self.project, self.domain)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Every phase change of the project's runs, as JSON-safe dicts; yields until cancelled.

        Only the fields of :meth:`shared_stream_key` are read from ``kwargs``.
        """
        conn_id = kwargs.get("flyte_conn_id") or "flyte_default"
        hook = FlyteHook(conn_id)
        async with hook.shared_client() as client:
            project, domain = kwargs.get("project") or client.project, kwargs.get("domain") or client.domain
            log.info("Watching the Flyte runs of %s/%s through connection %r (one stream)", project, domain, conn_id)
            async for change in client.watch_runs.aio(project=project, domain=domain):
                yield change.to_dict()

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events: its phases and task, each run name once."""
        fired: OrderedDict[str, None] = OrderedDict()
        async for change in shared_stream:
            if not isinstance(change, dict) or change.get("phase") not in self.phases:
                continue
            if self.task_name is not None and change.get("task_name") != self.task_name:
                continue
            name = str(change.get("run_name") or "")
            if not name or name in fired:
                continue
            fired[name] = None
            if len(fired) > EVENT_MEMORY:
                fired.popitem(last=False)
            self.log.info("Flyte run %s reached %s (%s)", name, change.get("phase"), change.get("url"))
            yield TriggerEvent(dict(change))  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Standalone (no shared stream manager, e.g. Airflow < 3.3): the same events.

        Triggers of one event loop still share the core's ``WatchRuns`` stream.
        """
        async for event in self.filter_shared_stream(type(self).open_shared_stream(self.serialize()[1])):
            yield event
