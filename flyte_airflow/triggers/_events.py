"""FlyteRunEventTrigger, the event-driven trigger (``AssetWatcher``): it fires once for each run
of a project and domain that reaches one of its phases. Watchers on one connection, project and
domain share one Airflow shared stream (Airflow >= 3.3), which reads the core's
``FlyteClient.watch_runs`` over the same shared ``WatchRuns`` stream the waits use.

Its public home is ``flyte_airflow.triggers.flyte`` (the path it serializes under).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from flyte_airflow.hooks.flyte import FlyteHook

__all__ = ["EVENT_MEMORY", "FlyteRunEventTrigger"]

log = logging.getLogger("flyte_airflow.triggers.flyte")
PUBLIC_PATH = "flyte_airflow.triggers.flyte.FlyteRunEventTrigger"
# How many fired run names an event trigger remembers (so a run never fires twice).
EVENT_MEMORY = 100_000


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
            PUBLIC_PATH,
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
