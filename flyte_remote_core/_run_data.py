"""Reading a run's state and data: details, inputs and outputs decoded, and failures as typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._action import ActionDetails, ActionInputs, ActionOutputs
from ._errors import ConfigurationError, RunAbortedError, RunError, RunFailedError, RunTimedOutError
from ._phases import Phase
from ._run import RunDetails

if TYPE_CHECKING:
    from ._rpc import Rpc


class RunDataMixin:
    """Mixed into :class:`FlyteClient`; relies on its ``_rpc``, ``run_url`` and ``_select_cluster``."""

    _rpc: Rpc
    run_url: Any
    _select_cluster: Any

    async def _run_details(self, run_id: Any) -> RunDetails:
        from flyteidl2.workflow import run_service_pb2

        response = await self._rpc.call("run", "GetRunDetails", run_service_pb2.GetRunDetailsRequest(run_id=run_id),
                                        entity=f"run {run_id.name} in {run_id.project}/{run_id.domain}")
        return RunDetails(response.details, client=self)

    async def _action_details(self, action_id: Any) -> ActionDetails:
        from flyteidl2.workflow import run_service_pb2

        response = await self._rpc.call("run", "GetActionDetails", run_service_pb2.GetActionDetailsRequest(action_id=action_id),
                                        entity=f"action {action_id.run.name}/{action_id.name}")
        return ActionDetails(response.details, client=self)

    async def _action_data(self, action_id: Any, interface: Any | None) -> tuple[ActionInputs, ActionOutputs]:
        from flyteidl2.dataproxy import dataproxy_service_pb2

        from .codec import literals_to_python
        from .codec import read_uri

        await self._select_cluster("OPERATION_GET_ACTION_DATA", action_id.run.project, action_id.run.domain)
        response = await self._rpc.call("dataproxy", "GetActionData",
                                        dataproxy_service_pb2.GetActionDataRequest(action_id=action_id),
                                        entity=f"data of run {action_id.run.name}")
        in_vars = list(interface.inputs.variables) if interface is not None else None
        out_vars = list(interface.outputs.variables) if interface is not None else None

        def decode() -> tuple[dict[str, Any], dict[str, Any]]:
            return (literals_to_python(response.inputs.literals, in_vars, read_uri=read_uri),
                    literals_to_python(response.outputs.literals, out_vars, read_uri=read_uri))

        inputs, outputs = await asyncio.to_thread(decode) if _has_offloaded(response) else decode()
        return (ActionInputs(response.inputs, inputs),
                ActionOutputs(response.outputs, tuple(outputs.values()), tuple(outputs.keys())))

    def _typed_outputs(self, outputs: ActionOutputs, interface: Any | None, python_types: Mapping[str, Any]) -> ActionOutputs:
        from .codec import literals_to_python
        from .codec import read_uri

        unknown = set(python_types) - set(outputs.names)
        if unknown:
            raise ConfigurationError(f"python_types names unknown outputs {sorted(unknown)}; outputs are {list(outputs.names)}")
        variables = list(interface.outputs.variables) if interface is not None else None
        values = literals_to_python(outputs.pb2.literals, variables, python_types=dict(python_types), read_uri=read_uri)
        return ActionOutputs(outputs.pb2, tuple(values.values()), tuple(values.keys()))

    def _run_error(self, details: ActionDetails) -> RunError:
        phase = details.phase
        url = self.run_url(details.run_name, project=details.pb2.id.run.project, domain=details.pb2.id.run.domain)
        if phase is Phase.ABORTED:
            info = details.abort_info
            return RunAbortedError(details.run_name, phase=phase.value, message=info.reason if info else "", url=url)
        err = details.error_info
        kind = code = None
        message = ""
        if err is not None:
            from flyteidl2.workflow import run_definition_pb2

            kind = run_definition_pb2.ErrorInfo.Kind.Name(err.kind).removeprefix("KIND_")
            kind = None if kind == "UNSPECIFIED" else kind
            code, message = err.code or None, err.message
        cls = RunTimedOutError if phase is Phase.TIMED_OUT else RunFailedError
        return cls(details.run_name, phase=phase.value, message=message, kind=kind, code=code, url=url)


def _has_offloaded(response: Any) -> bool:
    return any(nl.value.HasField("offloaded_metadata") for nl in list(response.inputs.literals) + list(response.outputs.literals))
