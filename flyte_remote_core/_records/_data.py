"""An action's data and failures, parsed once at the edge: inputs and outputs decoded with the
task interface, and a failed, aborted or timed-out action turned into its typed ``RunError``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flyteidl2.workflow import run_definition_pb2

from .._errors import ConfigurationError, RunAbortedError, RunError, RunFailedError, RunTimedOutError
from .._phases import Phase
from ..codec import literals_to_python, read_uri
from ._values import ActionInputs, ActionOutputs

if TYPE_CHECKING:
    from .._services import Services


async def fetch_action_data(
    services: Services, action_id: Any, interface: Any | None
) -> tuple[ActionInputs, ActionOutputs]:
    response = await services.data.action_data(action_id)
    in_vars = list(interface.inputs.variables) if interface is not None else None
    out_vars = list(interface.outputs.variables) if interface is not None else None

    def decode() -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            literals_to_python(response.inputs.literals, in_vars, read_uri=read_uri),
            literals_to_python(response.outputs.literals, out_vars, read_uri=read_uri),
        )

    # Offloaded literals are read from storage: keep that blocking I/O off the event loop.
    inputs, outputs = await asyncio.to_thread(decode) if _has_offloaded(response) else decode()
    return (
        ActionInputs(response.inputs, inputs),
        ActionOutputs(response.outputs, tuple(outputs.values()), tuple(outputs.keys())),
    )


def typed_outputs(outputs: ActionOutputs, interface: Any | None, python_types: Mapping[str, Any]) -> ActionOutputs:
    """The outputs decoded again into the given classes (dataclasses, pydantic models)."""
    unknown = set(python_types) - set(outputs.names)
    if unknown:
        raise ConfigurationError(
            f"python_types names unknown outputs {sorted(unknown)}; outputs are {list(outputs.names)}"
        )
    variables = list(interface.outputs.variables) if interface is not None else None
    values = literals_to_python(outputs.pb2.literals, variables, python_types=dict(python_types), read_uri=read_uri)
    return ActionOutputs(outputs.pb2, tuple(values.values()), tuple(values.keys()))


def run_error(details: run_definition_pb2.ActionDetails, url: str) -> RunError:
    """The typed error of an action that ended without success."""
    phase = Phase.from_raw(details.status.phase)
    run_name = details.id.run.name
    if phase is Phase.ABORTED:
        reason = details.abort_info.reason if details.HasField("abort_info") else ""
        return RunAbortedError(run_name, phase=phase.value, message=reason, url=url)
    kind = code = None
    message = ""
    if details.HasField("error_info"):
        err = details.error_info
        kind = run_definition_pb2.ErrorInfo.Kind.Name(err.kind).removeprefix("KIND_")
        kind = None if kind == "UNSPECIFIED" else kind
        code, message = err.code or None, err.message
    cls = RunTimedOutError if phase is Phase.TIMED_OUT else RunFailedError
    return cls(run_name, phase=phase.value, message=message, kind=kind, code=code, url=url)


def _has_offloaded(response: Any) -> bool:
    return any(
        nl.value.HasField("offloaded_metadata")
        for nl in list(response.inputs.literals) + list(response.outputs.literals)
    )
