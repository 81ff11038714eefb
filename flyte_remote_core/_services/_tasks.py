"""Typed facade over ``task.TaskService``: task details, the newest version, listings."""

from __future__ import annotations

from flyteidl2.common import list_pb2
from flyteidl2.task import task_definition_pb2, task_service_pb2

from .._errors import NotFoundError
from .._transport import Rpc
from ._scope import Scope


class TaskService:
    def __init__(self, rpc: Rpc, scope: Scope) -> None:
        self._rpc = rpc
        self._scope = scope

    def task_id(self, name: str, version: str, project: str, domain: str) -> task_definition_pb2.TaskIdentifier:
        return task_definition_pb2.TaskIdentifier(
            org=self._scope.org, project=project, domain=domain, name=name, version=version
        )

    async def details(self, task_id: task_definition_pb2.TaskIdentifier) -> task_definition_pb2.TaskDetails:
        response = await self._rpc.call(
            "task",
            "GetTaskDetails",
            task_service_pb2.GetTaskDetailsRequest(task_id=task_id),
            entity=f"task {task_id.name}@{task_id.version} in {task_id.project}/{task_id.domain}",
        )
        return response.details

    async def latest_version(self, name: str, project: str, domain: str) -> str:
        """The newest deployed version, as the SDK finds it: ListTasks by name, newest first, limit 1."""
        request = task_service_pb2.ListTasksRequest(
            org=self._scope.org,
            project_id=self._scope.project_id(project, domain),
            request=list_pb2.ListRequest(
                limit=1,
                sort_by=list_pb2.Sort(key="created_at", direction=list_pb2.Sort.DESCENDING),
                filters=[list_pb2.Filter(function=list_pb2.Filter.Function.EQUAL, field="name", values=[name])],
            ),
        )
        response = await self._rpc.call("task", "ListTasks", request, entity=f"task {name} in {project}/{domain}")
        for task in response.tasks:
            if task.task_id.name == name:
                return str(task.task_id.version)
        raise NotFoundError(
            f"no task named {name!r} is deployed",
            entity=f"project {project}/{domain}",
            hint="Check the task name (module.function) and that it is deployed to this project and domain",
        )

    async def list_page(
        self, project: str, domain: str, *, token: str, size: int
    ) -> tuple[list[task_definition_pb2.Task], str]:
        request = task_service_pb2.ListTasksRequest(
            org=self._scope.org,
            project_id=self._scope.project_id(project, domain),
            request=list_pb2.ListRequest(limit=size, token=token),
        )
        response = await self._rpc.call("task", "ListTasks", request, entity=f"project {project}/{domain}")
        return list(response.tasks), response.token
