"""Finding deployed tasks: by name and version, "latest", and listing a project's tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError, NotFoundError
from ._rpc import collect_pages
from ._syncify import syncify
from ._task import Task

if TYPE_CHECKING:
    from ._rpc import Rpc


class TaskLookupMixin:
    """Mixed into :class:`FlyteClient`; relies on its ``_rpc``, ``org`` and ``_scope``."""

    _rpc: Rpc
    org: str
    _scope: Any

    @syncify
    async def get_task(self, name: str, version: str | None = None, *, project: str | None = None,
                       domain: str | None = None) -> Task:
        """A deployed task; ``version`` None or "latest" picks the newest deployed version."""
        from flyteidl2.task import task_definition_pb2, task_service_pb2

        project, domain = self._scope(project, domain)
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"task name must be a non-empty string, got {name!r}")
        if version in (None, "", "latest"):
            version = await self._latest_version(name, project, domain)
        task_id = task_definition_pb2.TaskIdentifier(org=self.org, project=project, domain=domain, name=name, version=version)
        response = await self._rpc.call("task", "GetTaskDetails", task_service_pb2.GetTaskDetailsRequest(task_id=task_id),
                                        entity=f"task {name}@{version} in {project}/{domain}")
        return Task(response.details, client=self)

    async def _latest_version(self, name: str, project: str, domain: str) -> str:
        from flyteidl2.common import identifier_pb2, list_pb2
        from flyteidl2.task import task_service_pb2

        request = task_service_pb2.ListTasksRequest(
            org=self.org,
            project_id=identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project),
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
        raise NotFoundError(f"no task named {name!r} is deployed", entity=f"project {project}/{domain}",
                            hint="Check the task name (module.function) and that it is deployed to this project and domain")

    @syncify
    async def list_tasks(self, *, project: str | None = None, domain: str | None = None, limit: int = 200) -> list[Task]:
        """The latest version of every task deployed in a project and domain."""
        from flyteidl2.common import identifier_pb2, list_pb2
        from flyteidl2.task import task_service_pb2

        project, domain = self._scope(project, domain)

        async def page(token: str, size: int) -> tuple[list[Task], str]:
            request = task_service_pb2.ListTasksRequest(
                org=self.org,
                project_id=identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project),
                request=list_pb2.ListRequest(limit=size, token=token),
            )
            response = await self._rpc.call("task", "ListTasks", request, entity=f"project {project}/{domain}")
            return [Task(t, client=self) for t in response.tasks], response.token

        return await collect_pages(page, limit)
