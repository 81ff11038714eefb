"""ProjectService: projects and their domains."""

from __future__ import annotations

from dataclasses import dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.project.project_service_connect import ProjectService

from ..engine.catalog import Catalog
from ..engine.listing import token_window
from ..engine.model import not_found


@dataclass(eq=False)
class ProjectServiceImpl(ProjectService):
    catalog: Catalog

    async def create_project(self, request: pj.CreateProjectRequest, ctx: RequestContext) -> pj.CreateProjectResponse:
        proj = request.project
        if not proj.id:
            raise ConnectError(Code.INVALID_ARGUMENT, "project.id is required")
        self.catalog.put_project(proj, create=True)
        return pj.CreateProjectResponse()

    async def update_project(self, request: pj.UpdateProjectRequest, ctx: RequestContext) -> pj.UpdateProjectResponse:
        self.catalog.put_project(request.project, create=False)
        return pj.UpdateProjectResponse()

    async def get_project(self, request: pj.GetProjectRequest, ctx: RequestContext) -> pj.GetProjectResponse:
        proj = self.catalog.get_project(request.id)
        if proj is None:
            raise not_found(f"project {request.id!r}")
        return pj.GetProjectResponse(project=proj)

    async def list_projects(self, request: pj.ListProjectsRequest, ctx: RequestContext) -> pj.ListProjectsResponse:
        window, token = token_window(self.catalog.list_projects(), request.token, request.limit)
        return pj.ListProjectsResponse(projects=pj.Projects(projects=window, token=token))
