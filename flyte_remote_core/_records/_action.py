"""Actions (the steps of a run; the root one is ``a0``), their details, inputs and outputs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._errors import RunError
from .._phases import Phase
from .._syncify import syncify, syncify_gen
from ._bound import BoundRecord
from ._data import fetch_action_data, run_error, typed_outputs
from ._json import ToJSONMixin
from ._values import ActionInputs, ActionOutputs
from ._waiting import WaitFor, wait_action, watch_action

if TYPE_CHECKING:
    from .._services import Services

__all__ = ["Action", "ActionDetails", "ActionInputs", "ActionOutputs", "WaitFor"]


class _ActionFields(ToJSONMixin, BoundRecord):
    """Identity and status read the same way from ``Action`` and ``ActionDetails`` messages."""

    pb2: Any

    @property
    def action_id(self) -> Any:
        """Get the action ID."""
        return self.pb2.id

    @property
    def name(self) -> str:
        """Get the name of the action."""
        return str(self.pb2.id.name)

    @property
    def run_name(self) -> str:
        """Get the name of the run."""
        return str(self.pb2.id.run.name)

    @property
    def task_name(self) -> str | None:
        """Get the name of the task."""
        return str(self.pb2.metadata.task.id.name) or None

    @property
    def phase(self) -> Phase:
        """Get the phase of the action."""
        return Phase.from_raw(self.pb2.status.phase)

    @property
    def raw_phase(self) -> int:
        """Get the raw phase of the action."""
        return int(self.pb2.status.phase)

    def done(self) -> bool:
        """True once the action is in a terminal phase."""
        return self.phase.is_terminal


class ActionDetails(_ActionFields):
    """Full state of an action (``run_definition_pb2.ActionDetails``)."""

    def __init__(
        self,
        pb2: Any,
        _inputs: ActionInputs | None = None,
        _outputs: ActionOutputs | None = None,
        *,
        services: Services | None = None,
    ) -> None:
        self.pb2 = pb2
        self._inputs = _inputs
        self._outputs = _outputs
        self._services = services

    @property
    def status(self) -> Any:
        return self.pb2.status

    @property
    def metadata(self) -> Any:
        return self.pb2.metadata

    @property
    def attempts(self) -> int:
        return int(self.pb2.status.attempts)

    @property
    def is_running(self) -> bool:
        return self.phase is Phase.RUNNING

    @property
    def error_info(self) -> Any | None:
        return self.pb2.error_info if self.pb2.HasField("error_info") else None

    @property
    def abort_info(self) -> Any | None:
        return self.pb2.abort_info if self.pb2.HasField("abort_info") else None

    @property
    def runtime(self) -> timedelta:
        status = self.pb2.status
        if status.duration_ms:
            return timedelta(milliseconds=status.duration_ms)
        if not status.HasField("start_time"):
            return timedelta(0)
        start: datetime = status.start_time.ToDatetime(tzinfo=UTC)
        if status.HasField("end_time"):
            end: datetime = status.end_time.ToDatetime(tzinfo=UTC)
            return end - start
        return datetime.now(UTC) - start

    def logs_available(self, attempt: int | None = None) -> bool:
        attempts = list(self.pb2.attempts)
        if not attempts:
            return False
        if attempt is None:
            return bool(attempts[-1].logs_available)
        return any(a.attempt == attempt and a.logs_available for a in attempts)

    def error(self) -> RunError:
        """The typed error of a finished action that did not succeed."""
        services = self._require()
        run = self.pb2.id.run
        return run_error(self.pb2, services.run_url(run.name, project=run.project, domain=run.domain))

    @syncify
    async def inputs(self) -> ActionInputs:
        if self._inputs is None:
            self._inputs, self._outputs = await fetch_action_data(self._require(), self.pb2.id, self.task_interface())
        return self._inputs

    @syncify
    async def outputs(self, python_types: Mapping[str, Any] | None = None) -> ActionOutputs:
        """Outputs of a finished action; raises a RunError subclass if it did not succeed.

        ``python_types`` maps output names to the classes to rebuild (a dataclass or pydantic
        model output otherwise comes back as a dict).
        """
        phase = self.phase
        if phase.is_terminal and not phase.is_success:
            raise self.error()
        if not phase.is_success:
            raise RunError(self.run_name, phase=phase.value, message="it has not finished yet; wait() first")
        if self._outputs is None:
            self._inputs, self._outputs = await fetch_action_data(self._require(), self.pb2.id, self.task_interface())
        if python_types:
            return typed_outputs(self._outputs, self.task_interface(), python_types)
        return self._outputs

    def task_interface(self) -> Any | None:
        if self.pb2.HasField("task"):
            return self.pb2.task.task_template.interface
        return None

    @syncify_gen
    async def watch_updates(self, cache_data_on_done: bool = False) -> AsyncIterator[ActionDetails]:
        async for pb2 in watch_action(self._require(), self.pb2.id):
            details = ActionDetails(pb2, services=self._services)
            self.pb2 = pb2
            if cache_data_on_done and details.done() and details.phase.is_success:
                await details.outputs.aio()
            yield details

    def __repr__(self) -> str:
        return f"ActionDetails(run={self.run_name!r}, name={self.name!r}, phase={self.phase.value})"


class Action(_ActionFields):
    """An action of a run (``run_definition_pb2.Action``)."""

    def __init__(self, pb2: Any, _details: ActionDetails | None = None, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self._details = _details
        self._services = services

    @syncify
    async def details(self) -> ActionDetails:
        self._details = ActionDetails(await self._require().runs.action_details(self.pb2.id), services=self._services)
        return self._details

    @syncify
    async def sync(self) -> Action:
        details = await self.details.aio()
        self.pb2.status.CopyFrom(details.pb2.status)
        return self

    @syncify_gen
    async def watch(
        self, cache_data_on_done: bool = False, wait_for: WaitFor = "terminal"
    ) -> AsyncIterator[ActionDetails]:
        async for pb2 in watch_action(self._require(), self.pb2.id):
            details = self._details = ActionDetails(pb2, services=self._services)
            self.pb2.status.CopyFrom(details.pb2.status)
            if cache_data_on_done and details.done() and details.phase.is_success:
                await details.outputs.aio()
            yield details
            if wait_for == "running" and details.phase in (Phase.RUNNING,):
                return

    @syncify
    async def wait(
        self, quiet: bool = False, wait_for: WaitFor = "terminal", timeout: float | None = None
    ) -> ActionDetails:
        """Wait for this action (see :meth:`Run.wait`)."""
        await wait_action(self._require(), self.pb2.id, quiet=quiet, wait_for=wait_for, timeout=timeout)
        return await self.details.aio()

    @syncify
    async def abort(self, reason: str = "User requested abort") -> None:
        await self._require().runs.abort_action(self.pb2.id, reason)

    def __repr__(self) -> str:
        return f"Action(run={self.run_name!r}, name={self.name!r}, phase={self.phase.value})"
