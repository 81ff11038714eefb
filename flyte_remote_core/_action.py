"""Actions (the steps of a run; the root one is ``a0``), their details, inputs and outputs."""

from __future__ import annotations

import json
from collections import UserDict
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._entities import ToJSONMixin
from ._phases import Phase
from ._syncify import syncify, syncify_gen

if TYPE_CHECKING:
    from ._client import FlyteClient

WaitFor = str  # "terminal" | "running"


class ActionInputs(UserDict, ToJSONMixin):  # type: ignore[type-arg]
    """The inputs of an action as a dict of Python values; ``pb2`` is ``common_pb2.Inputs``."""

    def __init__(self, pb2: Any, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.pb2 = pb2

    def to_dict(self) -> dict[str, Any]:
        from .codec import to_json_safe

        return {k: to_json_safe(v) for k, v in self.data.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class ActionOutputs(tuple, ToJSONMixin):  # type: ignore[type-arg]
    """The outputs of an action in interface order; ``outputs["o0"]`` works as well as ``outputs[0]``."""

    pb2: Any
    names: tuple[str, ...]

    def __new__(cls, pb2: Any, data: tuple[Any, ...], names: tuple[str, ...] | None = None) -> ActionOutputs:
        self = super().__new__(cls, data)
        self.pb2 = pb2
        self.names = tuple(names) if names is not None else tuple(f"o{i}" for i in range(len(data)))
        return self

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self.names.index(key))
            except ValueError:
                raise KeyError(f"no output named {key!r}; outputs are {list(self.names)}") from None
        return tuple.__getitem__(self, key)

    @property
    def named(self) -> dict[str, Any]:
        """``{output name: Python value}``."""
        return dict(zip(self.names, self))

    def to_dict(self) -> dict[str, Any]:
        """``{output name: JSON-safe value}``, ready for XCom."""
        from .codec import to_json_safe

        return {name: to_json_safe(value) for name, value in zip(self.names, self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return f"ActionOutputs({self.named!r})"


class _ActionFields(ToJSONMixin):
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
        client: FlyteClient | None = None,
    ) -> None:
        self.pb2 = pb2
        self._inputs = _inputs
        self._outputs = _outputs
        self._client = client

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
        start = status.start_time.ToDatetime()
        if status.HasField("end_time"):
            return status.end_time.ToDatetime() - start
        from datetime import datetime

        return datetime.utcnow() - start

    def logs_available(self, attempt: int | None = None) -> bool:
        attempts = list(self.pb2.attempts)
        if not attempts:
            return False
        if attempt is None:
            return bool(attempts[-1].logs_available)
        return any(a.attempt == attempt and a.logs_available for a in attempts)

    @syncify
    async def inputs(self) -> ActionInputs:
        if self._inputs is None:
            assert self._client is not None
            self._inputs, self._outputs = await self._client._action_data(self.pb2.id, self.task_interface())
        return self._inputs

    @syncify
    async def outputs(self, python_types: Mapping[str, Any] | None = None) -> ActionOutputs:
        """Outputs of a finished action; raises a RunError subclass if it did not succeed.

        ``python_types`` maps output names to the classes to rebuild (a dataclass or pydantic
        model output otherwise comes back as a dict).
        """
        from ._errors import RunError

        assert self._client is not None
        phase = self.phase
        if phase.is_terminal and not phase.is_success:
            raise self._client._run_error(self)
        if not phase.is_success:
            raise RunError(self.run_name, phase=phase.value, message="it has not finished yet; wait() first")
        if self._outputs is None:
            self._inputs, self._outputs = await self._client._action_data(self.pb2.id, self.task_interface())
        if python_types:
            return self._client._typed_outputs(self._outputs, self.task_interface(), python_types)
        return self._outputs

    def task_interface(self) -> Any | None:
        if self.pb2.HasField("task"):
            return self.pb2.task.task_template.interface
        return None

    @syncify_gen
    async def watch_updates(self, cache_data_on_done: bool = False) -> AsyncIterator[ActionDetails]:
        assert self._client is not None
        async for details in self._client._watch_action(self.pb2.id):
            self.pb2 = details.pb2
            if cache_data_on_done and details.done() and details.phase.is_success:
                await details.outputs.aio()
            yield details

    def __repr__(self) -> str:
        return f"ActionDetails(run={self.run_name!r}, name={self.name!r}, phase={self.phase.value})"


class Action(_ActionFields):
    """An action of a run (``run_definition_pb2.Action``)."""

    def __init__(self, pb2: Any, _details: ActionDetails | None = None, *, client: FlyteClient | None = None) -> None:
        self.pb2 = pb2
        self._details = _details
        self._client = client

    @syncify
    async def details(self) -> ActionDetails:
        assert self._client is not None
        self._details = await self._client._action_details(self.pb2.id)
        return self._details

    @syncify
    async def sync(self) -> Action:
        details = await self.details.aio()
        self.pb2.status.CopyFrom(details.pb2.status)
        return self

    @syncify_gen
    async def watch(self, cache_data_on_done: bool = False, wait_for: WaitFor = "terminal") -> AsyncIterator[ActionDetails]:
        assert self._client is not None
        async for details in self._client._watch_action(self.pb2.id):
            self._details = details
            self.pb2.status.CopyFrom(details.pb2.status)
            if cache_data_on_done and details.done() and details.phase.is_success:
                await details.outputs.aio()
            yield details
            if wait_for == "running" and details.phase in (Phase.RUNNING,):
                return

    @syncify
    async def wait(self, quiet: bool = False, wait_for: WaitFor = "terminal", timeout: float | None = None) -> ActionDetails:
        """Wait for this action (see :meth:`Run.wait`)."""
        assert self._client is not None
        await self._client._wait_action(self.pb2.id, quiet=quiet, wait_for=wait_for, timeout=timeout)
        return await self.details.aio()

    @syncify
    async def abort(self, reason: str = "User requested abort") -> None:
        assert self._client is not None
        from flyteidl2.workflow import run_service_pb2

        await self._client._rpc.call(
            "run", "AbortAction", run_service_pb2.AbortActionRequest(action_id=self.pb2.id, reason=reason),
            entity=f"action {self.run_name}/{self.name}",
        )

    def __repr__(self) -> str:
        return f"Action(run={self.run_name!r}, name={self.name!r}, phase={self.phase.value})"
