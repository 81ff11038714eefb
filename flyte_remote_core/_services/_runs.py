"""Typed facade over ``workflow.RunService``: runs and actions, their details, aborts and watches."""

from __future__ import annotations

from collections.abc import AsyncIterator

from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.task import task_definition_pb2
from flyteidl2.workflow import run_definition_pb2, run_service_pb2

from .._transport import Rpc
from ._scope import Scope


def _run_entity(run_id: identifier_pb2.RunIdentifier) -> str:
    return f"run {run_id.name} in {run_id.project}/{run_id.domain}"


class RunService:
    def __init__(self, rpc: Rpc, scope: Scope) -> None:
        self._rpc = rpc
        self._scope = scope

    async def create(
        self, request: run_service_pb2.CreateRunRequest, *, entity: str, idempotent: bool
    ) -> run_definition_pb2.Run:
        """CreateRun; safe to retry only with a caller-given name (the caller says so)."""
        response = await self._rpc.call("run", "CreateRun", request, entity=entity, idempotent=idempotent)
        return response.run

    async def details(self, run_id: identifier_pb2.RunIdentifier) -> run_definition_pb2.RunDetails:
        response = await self._rpc.call(
            "run", "GetRunDetails", run_service_pb2.GetRunDetailsRequest(run_id=run_id), entity=_run_entity(run_id)
        )
        return response.details

    async def action_details(self, action_id: identifier_pb2.ActionIdentifier) -> run_definition_pb2.ActionDetails:
        response = await self._rpc.call(
            "run",
            "GetActionDetails",
            run_service_pb2.GetActionDetailsRequest(action_id=action_id),
            entity=f"action {action_id.run.name}/{action_id.name}",
        )
        return response.details

    async def abort(self, run_id: identifier_pb2.RunIdentifier, reason: str) -> None:
        await self._rpc.call(
            "run", "AbortRun", run_service_pb2.AbortRunRequest(run_id=run_id, reason=reason), entity=_run_entity(run_id)
        )

    async def abort_action(self, action_id: identifier_pb2.ActionIdentifier, reason: str) -> None:
        await self._rpc.call(
            "run",
            "AbortAction",
            run_service_pb2.AbortActionRequest(action_id=action_id, reason=reason),
            entity=f"action {action_id.run.name}/{action_id.name}",
        )

    async def list_page(
        self, project: str, domain: str, *, task_name: str | None, token: str, size: int
    ) -> tuple[list[run_definition_pb2.Run], str]:
        request = run_service_pb2.ListRunsRequest(
            org=self._scope.org,
            project_id=self._scope.project_id(project, domain),
            request=list_pb2.ListRequest(limit=size, token=token),
        )
        if task_name:
            request.task_name.CopyFrom(
                task_definition_pb2.TaskName(org=self._scope.org, project=project, domain=domain, name=task_name)
            )
        response = await self._rpc.call("run", "ListRuns", request, entity=f"project {project}/{domain}")
        return list(response.runs), response.token

    def watch_action(
        self, action_id: identifier_pb2.ActionIdentifier
    ) -> AsyncIterator[run_service_pb2.WatchActionDetailsResponse]:
        """One WatchActionDetails stream (no reconnects: that is the caller's policy)."""
        return self._rpc.stream(
            "run",
            "WatchActionDetails",
            run_service_pb2.WatchActionDetailsRequest(action_id=action_id),
            entity=f"run {action_id.run.name}",
        )

    def watch_runs(self, org: str, project: str, domain: str) -> AsyncIterator[run_service_pb2.WatchRunsResponse]:
        """One WatchRuns stream for a project and domain (never closes on the open-source backend)."""
        request = run_service_pb2.WatchRunsRequest(
            org=org, project_id=identifier_pb2.ProjectIdentifier(organization=org, domain=domain, name=project)
        )
        return self._rpc.stream("run", "WatchRuns", request, entity=f"project {project}")
