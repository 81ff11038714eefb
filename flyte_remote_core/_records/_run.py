"""Runs of a task: state, waiting, outputs, logs and abort."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flyteidl2.workflow import run_definition_pb2

from .._default_client import resolve_client
from .._phases import Phase
from .._syncify import syncify, syncify_classmethod, syncify_gen
from ._action import Action, ActionDetails, ActionInputs, ActionOutputs
from ._bound import BoundRecord
from ._json import ToJSONMixin
from ._waiting import WaitFor, tail_logs, wait_action

if TYPE_CHECKING:
    from .._services import Services


class RunDetails(ToJSONMixin, BoundRecord):
    """A run's spec and the full details of its root action (``run_definition_pb2.RunDetails``)."""

    def __init__(self, pb2: Any, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self._services = services
        self.action_details = ActionDetails(pb2.action, services=services)

    @property
    def action_id(self) -> Any:
        return self.pb2.action.id

    @property
    def name(self) -> str:
        return str(self.pb2.action.id.run.name)

    @property
    def task_name(self) -> str | None:
        return self.action_details.task_name

    @property
    def phase(self) -> Phase:
        return self.action_details.phase

    def done(self) -> bool:
        return self.action_details.done()

    @syncify
    async def inputs(self) -> ActionInputs:
        return await self.action_details.inputs.aio()

    @syncify
    async def outputs(self, python_types: Mapping[str, Any] | None = None) -> ActionOutputs:
        return await self.action_details.outputs.aio(python_types)

    def __repr__(self) -> str:
        return f"RunDetails(name={self.name!r}, phase={self.phase.value})"


class Run(ToJSONMixin, BoundRecord):
    """A run of a task (``run_definition_pb2.Run``). Its root action is ``a0``."""

    def __init__(self, pb2: Any, _details: RunDetails | None = None, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self._details = _details
        self._services = services
        # When the request that read ``pb2``'s status was sent (monotonic): lets a wait skip
        # reading the run again when the watch stream has been live since before then.
        self._read_at: float | None = None

    @classmethod
    def from_details(cls, details: RunDetails) -> Run:
        """A Run whose root action is the one these details describe."""
        pb = run_definition_pb2.Run()
        action = details.pb2.action
        pb.action.id.CopyFrom(action.id)
        pb.action.metadata.CopyFrom(action.metadata)
        pb.action.status.CopyFrom(action.status)
        return cls(pb, details, services=details._services)

    # -- identity and state -------------------------------------------------------
    @property
    def run_id(self) -> Any:
        return self.pb2.action.id.run

    @property
    def name(self) -> str:
        """The name of the run."""
        return str(self.pb2.action.id.run.name)

    @property
    def project(self) -> str:
        return str(self.pb2.action.id.run.project)

    @property
    def domain(self) -> str:
        return str(self.pb2.action.id.run.domain)

    @property
    def task_name(self) -> str | None:
        return str(self.pb2.action.metadata.task.id.name) or None

    @property
    def phase(self) -> Phase:
        """The phase of the run's root action, as last seen."""
        return Phase.from_raw(self.pb2.action.status.phase)

    @property
    def raw_phase(self) -> int:
        return int(self.pb2.action.status.phase)

    @property
    def attempts(self) -> int:
        return int(self.pb2.action.status.attempts)

    @property
    def url(self) -> str:
        """The console URL of the run."""
        return self._require().run_url(self.name, project=self.project, domain=self.domain)

    @property
    def action(self) -> Action:
        return Action(self.pb2.action, services=self._services)

    def done(self) -> bool:
        """True once the run is in a terminal phase (as last seen)."""
        return self.phase.is_terminal

    # -- remote work ----------------------------------------------------------------
    @syncify
    async def details(self) -> RunDetails:
        services = self._require()
        read_at = time.monotonic()
        self._details = RunDetails(await services.runs.details(self.run_id), services=services)
        self.pb2.action.status.CopyFrom(self._details.pb2.action.status)
        self._read_at = read_at
        return self._details

    @syncify
    async def sync(self) -> Run:
        """Re-read the run's state from the backend."""
        await self.details.aio()
        return self

    @syncify_gen
    async def watch(self, cache_data_on_done: bool = False) -> AsyncIterator[ActionDetails]:
        """Stream the root action's details: the current state first, then every change, until terminal."""
        async for details in self.action.watch.aio(cache_data_on_done=cache_data_on_done):
            self.pb2.action.status.CopyFrom(details.pb2.status)
            yield details

    @syncify
    async def wait(self, quiet: bool = False, wait_for: WaitFor = "terminal", timeout: float | None = None) -> Run:
        """Wait until the run ends (or, with ``wait_for="running"``, starts running).

        Shows a live panel with phase transitions and elapsed time unless ``quiet``.
        Raises :class:`WaitTimeoutError` after ``timeout`` seconds; the run itself goes on.
        Uses the client's shared watcher, so thousands of waits share a few streams.
        """
        known = (self.pb2.action.status, self._read_at) if self._read_at is not None else None
        status = await wait_action(
            self._require(), self.pb2.action.id, quiet=quiet, wait_for=wait_for, timeout=timeout, known=known
        )
        self._details = None
        self.pb2.action.status.CopyFrom(status)
        return self

    @syncify
    async def outputs(self, python_types: Mapping[str, Any] | None = None) -> ActionOutputs:
        """The outputs of a SUCCEEDED run; a FAILED, ABORTED or TIMED_OUT run raises a RunError.

        ``python_types`` maps output names to classes to rebuild (dataclasses, pydantic models).
        """
        details = await self.details.aio()
        return await details.outputs.aio(python_types)

    @syncify
    async def inputs(self) -> ActionInputs:
        details = await self.details.aio()
        return await details.inputs.aio()

    @syncify
    async def abort(self, reason: str = "User requested abort") -> None:
        """Abort the run. Aborting a finished run is harmless; an unknown run raises NotFoundError."""
        await self._require().runs.abort(self.run_id, reason)

    @syncify_gen
    async def logs(self, attempt: int | None = None, *, follow: bool = True) -> AsyncIterator[str]:
        """Lines of the root action's log (following it live until it ends when ``follow``)."""
        async for line in tail_logs(self._require(), self.pb2.action.id, attempt=attempt, follow=follow):
            yield line

    # -- class-level seed API -------------------------------------------------------
    @syncify_classmethod
    async def get(cls, name: str, project: str | None = None, domain: str | None = None, *, client: Any = None) -> Run:
        """A run by name, through ``client`` or the default client set by ``init()``."""
        return await resolve_client(client).get_run.aio(name, project=project, domain=domain)  # type: ignore[no-any-return]

    @syncify_classmethod
    async def listall(cls, *, client: Any = None, **filters: Any) -> list[Run]:
        """Runs of the client's project and domain (filters: ``project``, ``domain``, ``task_name``, ``limit``)."""
        return await resolve_client(client).list_runs.aio(**filters)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, phase={self.phase.value}, project={self.project!r}, domain={self.domain!r})"


@dataclass(frozen=True)
class RunChange:
    """A run whose root action reached ``phase``, as :meth:`FlyteClient.watch_runs` reports it.

    ``previous`` is the phase the watch knew before (None for a run it first saw then);
    ``resynced`` is True when a re-read after a reconnect (or a poll) found the change rather
    than the stream itself. ``run`` is the run as seen at the change, bound to its client.
    """

    run: Run
    phase: Phase
    previous: Phase | None = None
    resynced: bool = False

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def project(self) -> str:
        return self.run.project

    @property
    def domain(self) -> str:
        return self.run.domain

    @property
    def task_name(self) -> str | None:
        return self.run.task_name

    @property
    def attempts(self) -> int:
        return self.run.attempts

    @property
    def url(self) -> str:
        return self.run.url

    @property
    def ended_at(self) -> datetime | None:
        """When the run ended (the backend's clock), for a terminal phase."""
        status = self.run.pb2.action.status
        if not self.phase.is_terminal or not status.HasField("end_time"):
            return None
        return datetime.fromtimestamp(status.end_time.seconds + status.end_time.nanos / 1e9, tz=UTC)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields: run name, project, domain, task name, phase, previous, attempts, URL, end."""
        ended = self.ended_at
        return {
            "run_name": self.name,
            "project": self.project,
            "domain": self.domain,
            "task_name": self.task_name,
            "phase": self.phase.value,
            "previous_phase": self.previous.value if self.previous is not None else None,
            "attempts": self.attempts,
            "url": self.url,
            "ended_at": ended.isoformat() if ended is not None else None,
            "resynced": self.resynced,
        }

    def __repr__(self) -> str:
        return f"RunChange(name={self.name!r}, phase={self.phase.value}, previous={self.previous})"
