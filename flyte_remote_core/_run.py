"""Runs of a task: state, waiting, outputs, logs and abort."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ._action import Action, ActionDetails, ActionInputs, ActionOutputs, WaitFor
from ._entities import ToJSONMixin
from ._phases import Phase
from ._syncify import syncify, syncify_classmethod, syncify_gen

if TYPE_CHECKING:
    from ._client import FlyteClient


class RunDetails(ToJSONMixin):
    """A run's spec and the full details of its root action (``run_definition_pb2.RunDetails``)."""

    def __init__(self, pb2: Any, *, client: FlyteClient | None = None) -> None:
        self.pb2 = pb2
        self._client = client
        self.action_details = ActionDetails(pb2.action, client=client)

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


class Run(ToJSONMixin):
    """A run of a task (``run_definition_pb2.Run``). Its root action is ``a0``."""

    def __init__(self, pb2: Any, _details: RunDetails | None = None, *, client: FlyteClient | None = None) -> None:
        self.pb2 = pb2
        self._details = _details
        self._client = client

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
        assert self._client is not None, "this Run has no client"
        return self._client.run_url(self.name, project=self.project, domain=self.domain)

    @property
    def action(self) -> Action:
        return Action(self.pb2.action, client=self._client)

    def done(self) -> bool:
        """True once the run is in a terminal phase (as last seen)."""
        return self.phase.is_terminal

    # -- remote work ----------------------------------------------------------------
    @syncify
    async def details(self) -> RunDetails:
        assert self._client is not None
        self._details = await self._client._run_details(self.run_id)
        self.pb2.action.status.CopyFrom(self._details.pb2.action.status)
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
        assert self._client is not None
        status = await self._client._wait_action(
            self.pb2.action.id, quiet=quiet, wait_for=wait_for, timeout=timeout
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
        assert self._client is not None
        await self._client._abort_run(self.run_id, reason)

    @syncify_gen
    async def logs(self, attempt: int | None = None, *, follow: bool = True) -> AsyncIterator[str]:
        """Lines of the root action's log (following it live until it ends when ``follow``)."""
        assert self._client is not None
        async for line in self._client._tail_logs(self.pb2.action.id, attempt=attempt, follow=follow):
            yield line

    # -- class-level seed API -------------------------------------------------------
    @syncify_classmethod
    async def get(cls, name: str, project: str | None = None, domain: str | None = None, *,
                  client: FlyteClient | None = None) -> Run:
        from ._default import resolve_client

        return await resolve_client(client).get_run.aio(name, project=project, domain=domain)

    @syncify_classmethod
    async def listall(cls, *, client: FlyteClient | None = None, **filters: Any) -> list[Run]:
        from ._default import resolve_client

        return await resolve_client(client).list_runs.aio(**filters)

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, phase={self.phase.value}, project={self.project!r}, domain={self.domain!r})"
