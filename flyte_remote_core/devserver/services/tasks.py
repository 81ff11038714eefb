"""TaskService: DeployTask (upsert), GetTaskDetails (exact version), ListTasks, ListVersions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.task import task_service_pb2 as ts_pb2
from flyteidl2.task.task_service_connect import TaskService

from ..engine.catalog import Catalog
from ..engine.listing import Fields, apply_filters, apply_sort, list_page, sort_keys
from ..engine.model import not_found, ts

# DeployTask's triggers go to the trigger book: (task id, triggers).
OnDeploy = Callable[[td.TaskIdentifier, Sequence[td.TaskTrigger]], None]

# task rows: (project, domain, name, version, org, created_at, spec)
_TASK_FIELDS: Fields = {
    "name": lambda r: r[2],
    "task_name": lambda r: r[2],
    "version": lambda r: r[3],
    "project": lambda r: r[0],
    "domain": lambda r: r[1],
    "created_at": lambda r: r[5],
    "deployed_at": lambda r: r[5],
    "updated_at": lambda r: r[5],
}


@dataclass(eq=False)
class TaskServiceImpl(TaskService):
    catalog: Catalog
    _: KW_ONLY
    on_deploy: OnDeploy | None = None

    async def deploy_task(self, request: ts_pb2.DeployTaskRequest, ctx: RequestContext) -> ts_pb2.DeployTaskResponse:
        tid = request.task_id
        if not tid.project or not tid.domain:
            raise ConnectError(Code.INVALID_ARGUMENT, "task_id needs a project and a domain")
        self.catalog.deploy_task(tid, request.spec)
        if request.triggers and self.on_deploy is not None:
            self.on_deploy(tid, list(request.triggers))
        return ts_pb2.DeployTaskResponse()

    async def get_task_details(
        self, request: ts_pb2.GetTaskDetailsRequest, ctx: RequestContext
    ) -> ts_pb2.GetTaskDetailsResponse:
        tid = request.task_id
        if not tid.version:
            raise ConnectError(
                Code.NOT_FOUND,
                f"task {tid.name!r}: GetTaskDetails needs an exact version (list with ListTasks for the latest)",
            )
        details = self.catalog.get_task(tid)
        if details is None:
            raise not_found(f"task {tid.project}/{tid.domain}/{tid.name}@{tid.version}")
        return ts_pb2.GetTaskDetailsResponse(details=details)

    async def list_tasks(self, request: ts_pb2.ListTasksRequest, ctx: RequestContext) -> ts_pb2.ListTasksResponse:
        lr, page = list_page(request)
        conds: list[tuple[str, str]] = []
        if request.WhichOneof("scope_by") == "project_id":
            conds = [("project", request.project_id.name), ("domain", request.project_id.domain)]
        rows = self.catalog.task_rows(conds, skip_empty=True)
        # Latest version per (project, domain, name).
        latest: dict[tuple[str, str, str], Any] = {}  # -> the newest task row
        for r in rows:
            k = (r[0], r[1], r[2])
            if k not in latest or r[5] >= latest[k][5]:
                latest[k] = r
        total = len(latest)
        items = list(latest.values())
        if lr is not None:
            items = apply_filters(items, lr.filters, _TASK_FIELDS)
        sorts = sort_keys(lr)
        items = apply_sort(items, sorts, _TASK_FIELDS) if sorts else sorted(items, key=lambda r: -r[5])
        window = items[page.offset : page.offset + page.limit]
        tasks = []
        for r in window:
            d = self.catalog.task_details(r)
            tasks.append(td.Task(task_id=d.task_id, metadata=d.metadata))
        resp = ts_pb2.ListTasksResponse(tasks=tasks, token=page.token_after(len(window), len(items)))
        resp.metadata.total = total
        resp.metadata.filtered_total = len(items)
        return resp

    async def list_versions(
        self, request: ts_pb2.ListVersionsRequest, ctx: RequestContext
    ) -> ts_pb2.ListVersionsResponse:
        tn = request.task_name
        lr, page = list_page(request)
        rows = self.catalog.task_rows([("project", tn.project), ("domain", tn.domain), ("name", tn.name)])
        if not rows:
            raise not_found(f"task {tn.project}/{tn.domain}/{tn.name}")
        if lr is not None:
            rows = apply_filters(rows, lr.filters, _TASK_FIELDS)
        sorts = sort_keys(lr)
        rows = apply_sort(rows, sorts, _TASK_FIELDS) if sorts else sorted(rows, key=lambda r: -r[5])
        window = rows[page.offset : page.offset + page.limit]
        resp = ts_pb2.ListVersionsResponse(token=page.token_after(len(window), len(rows)))
        for r in window:
            resp.versions.add(version=r[3], deployed_at=ts(r[5]))
        return resp
