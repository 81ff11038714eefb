"""Typed facade over ``dataproxy.DataProxyService`` and ``cluster.ClusterService``.

The official SDK asks ``SelectCluster`` which endpoint serves each data operation. The answer
is cached per (operation, project, domain) as the SDK does, and dropped when a call it
routed fails, so a launch costs two calls (UploadInputs, CreateRun) instead of three.

Small inputs go inline in CreateRun (one call per launch): the open-source backend accepts
both inline ``inputs`` and ``offloaded_input_data``. A backend that refuses inline inputs
(INVALID_ARGUMENT or UNIMPLEMENTED on such a CreateRun) is remembered per client, and its
launches offload from then on, as the official SDK always does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from flyteidl2.cluster import payload_pb2
from flyteidl2.common import identifier_pb2
from flyteidl2.common import run_pb2 as common_run_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2
from flyteidl2.task import common_pb2, task_definition_pb2

from .._errors import ConfigurationError, RemoteError, UnimplementedError
from .._transport import Endpoint, Rpc, parse_endpoint
from ._scope import Scope

T = TypeVar("T")

INLINE_INPUTS_MAX_BYTES = 64 * 1024
"""Inputs up to this size (serialized) go inline in CreateRun; larger ones are offloaded."""


class DataService:
    def __init__(self, rpc: Rpc, scope: Scope, endpoint: Endpoint) -> None:
        self._rpc = rpc
        self._scope = scope
        self._endpoint = endpoint
        self._routed: set[tuple[str, str, str]] = set()
        self._inline_refused = False

    def may_inline(self, inputs: common_pb2.Inputs) -> bool:
        """True if ``inputs`` may ride on CreateRun instead of an UploadInputs call."""
        return not self._inline_refused and inputs.ByteSize() <= INLINE_INPUTS_MAX_BYTES

    def inline_refused(self) -> None:
        """The backend refused inline inputs: offload from now on."""
        self._inline_refused = True

    async def select_cluster(self, operation: str, project: str | None = None, domain: str | None = None) -> None:
        """Check that ``operation`` is served by this endpoint (multi-cluster data planes are not supported)."""
        project, domain = self._scope.resolve(project, domain)
        key = (operation, project, domain)
        if key in self._routed:
            return
        request = payload_pb2.SelectClusterRequest(
            project_id=self._scope.project_id(project, domain),
            operation=payload_pb2.SelectClusterRequest.Operation.Value(operation),  # type: ignore[arg-type]
        )
        try:
            response = await self._rpc.call("cluster", "SelectCluster", request, entity=f"project {project}")
        except UnimplementedError:  # backends without a ClusterService serve data from the same endpoint
            self._routed.add(key)
            return
        if response.cluster_endpoint and parse_endpoint(response.cluster_endpoint).target != self._endpoint.target:
            raise ConfigurationError(
                f"the backend routes {operation} to another cluster endpoint ({response.cluster_endpoint}); "
                "multi-cluster data planes are not supported by this client yet"
            )
        self._routed.add(key)

    async def _routed_call(self, operation: str, project: str, domain: str, call: Callable[[], Awaitable[T]]) -> T:
        await self.select_cluster(operation, project, domain)
        try:
            return await call()
        except RemoteError:
            self._routed.discard((operation, *self._scope.resolve(project, domain)))  # ask again next time
            raise

    async def upload_inputs(
        self,
        task_id: task_definition_pb2.TaskIdentifier,
        inputs: common_pb2.Inputs,
        *,
        run_id: identifier_pb2.RunIdentifier | None,
        project_id: identifier_pb2.ProjectIdentifier,
    ) -> common_run_pb2.OffloadedInputData:
        target = {"run_id": run_id} if run_id is not None else {"project_id": project_id}
        request = dataproxy_service_pb2.UploadInputsRequest(task_id=task_id, inputs=inputs, **target)

        async def call() -> common_run_pb2.OffloadedInputData:
            response = await self._rpc.call("dataproxy", "UploadInputs", request, entity=f"inputs of {task_id.name}")
            return response.offloaded_input_data

        return await self._routed_call("OPERATION_UPLOAD_INPUTS", project_id.name, project_id.domain, call)

    async def action_data(
        self, action_id: identifier_pb2.ActionIdentifier
    ) -> dataproxy_service_pb2.GetActionDataResponse:
        request = dataproxy_service_pb2.GetActionDataRequest(action_id=action_id)

        async def call() -> dataproxy_service_pb2.GetActionDataResponse:
            return await self._rpc.call(
                "dataproxy", "GetActionData", request, entity=f"data of run {action_id.run.name}"
            )

        return await self._routed_call("OPERATION_GET_ACTION_DATA", action_id.run.project, action_id.run.domain, call)

    async def create_upload_location(
        self, request: dataproxy_service_pb2.CreateUploadLocationRequest, *, entity: str
    ) -> dataproxy_service_pb2.CreateUploadLocationResponse:
        async def call() -> dataproxy_service_pb2.CreateUploadLocationResponse:
            return await self._rpc.call("dataproxy", "CreateUploadLocation", request, entity=entity)

        return await self._routed_call("OPERATION_CREATE_UPLOAD_LOCATION", request.project, request.domain, call)

    async def tail_logs(self, action_id: identifier_pb2.ActionIdentifier, attempt: int) -> AsyncIterator[list[str]]:
        """TailLogs: yields the lines of each message, each without its line ending.

        A backend sends each line with its trailing newline (the SDK's renderers rely on it);
        lines are handed out as ``str.splitlines()`` would, so callers see the same text from any backend.
        """
        await self.select_cluster("OPERATION_TAIL_LOGS", action_id.run.project, action_id.run.domain)
        request = dataproxy_service_pb2.TailLogsRequest(action_id=action_id, attempt=attempt)
        async for message in self._rpc.stream(
            "dataproxy", "TailLogs", request, entity=f"logs of run {action_id.run.name}"
        ):
            yield [_without_newline(line.message) for logs in message.logs for line in logs.lines]


def _without_newline(message: str) -> str:
    if message.endswith("\r\n"):
        return message[:-2]
    return message[:-1] if message.endswith("\n") else message
