"""Typed facades over the smaller services: ``ProjectService``, ``SecretService``,
``TriggerService`` and ``IdentityService``."""

from __future__ import annotations

from flyteidl2.auth import identity_pb2
from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.project import project_service_pb2
from flyteidl2.secret import definition_pb2, payload_pb2
from flyteidl2.task import task_definition_pb2
from flyteidl2.trigger import trigger_service_pb2

from .._transport import Rpc
from ._scope import Scope


class ProjectService:
    def __init__(self, rpc: Rpc, scope: Scope) -> None:
        self._rpc = rpc
        self._scope = scope

    async def get(self, name: str) -> project_service_pb2.Project:
        response = await self._rpc.call(
            "project",
            "GetProject",
            project_service_pb2.GetProjectRequest(id=name, org=self._scope.org),
            entity=f"project {name}",
        )
        return response.project

    async def list(self, limit: int) -> list[project_service_pb2.Project]:
        response = await self._rpc.call(
            "project", "ListProjects", project_service_pb2.ListProjectsRequest(limit=limit, org=self._scope.org)
        )
        return list(response.projects.projects)


class SecretService:
    def __init__(self, rpc: Rpc, scope: Scope) -> None:
        self._rpc = rpc
        self._scope = scope

    def secret_id(self, name: str, project: str | None, domain: str | None) -> definition_pb2.SecretIdentifier:
        return definition_pb2.SecretIdentifier(
            name=name, organization=self._scope.org, project=project or "", domain=domain or ""
        )

    async def create(self, secret_id: definition_pb2.SecretIdentifier, spec: definition_pb2.SecretSpec) -> None:
        await self._rpc.call(
            "secret",
            "CreateSecret",
            payload_pb2.CreateSecretRequest(id=secret_id, secret_spec=spec),
            entity=f"secret {secret_id.name}",
        )

    async def get(self, secret_id: definition_pb2.SecretIdentifier) -> definition_pb2.Secret:
        response = await self._rpc.call(
            "secret", "GetSecret", payload_pb2.GetSecretRequest(id=secret_id), entity=f"secret {secret_id.name}"
        )
        return response.secret

    async def list(self, project: str | None, domain: str | None, limit: int) -> list[definition_pb2.Secret]:
        response = await self._rpc.call(
            "secret",
            "ListSecrets",
            payload_pb2.ListSecretsRequest(
                organization=self._scope.org, project=project or "", domain=domain or "", limit=limit
            ),
        )
        return list(response.secrets)

    async def delete(self, secret_id: definition_pb2.SecretIdentifier) -> None:
        await self._rpc.call(
            "secret",
            "DeleteSecret",
            payload_pb2.DeleteSecretRequest(id=secret_id),
            entity=f"secret {secret_id.name}",
            idempotent=False,
        )


class TriggerService:
    def __init__(self, rpc: Rpc, scope: Scope) -> None:
        self._rpc = rpc
        self._scope = scope

    def trigger_name(
        self, name: str, task_name: str, project: str | None, domain: str | None
    ) -> identifier_pb2.TriggerName:
        project, domain = self._scope.resolve(project, domain)
        return identifier_pb2.TriggerName(
            org=self._scope.org, project=project, domain=domain, name=name, task_name=task_name
        )

    async def details(self, name: identifier_pb2.TriggerName) -> trigger_service_pb2.GetTriggerDetailsResponse:
        return await self._rpc.call(
            "trigger",
            "GetTriggerDetails",
            trigger_service_pb2.GetTriggerDetailsRequest(name=name),
            entity=f"trigger {name.name} of {name.task_name}",
        )

    async def list(
        self, project: str, domain: str, task_name: str | None, limit: int
    ) -> trigger_service_pb2.ListTriggersResponse:
        request = trigger_service_pb2.ListTriggersRequest(
            org=self._scope.org,
            request=list_pb2.ListRequest(limit=limit),
            project_id=self._scope.project_id(project, domain),
        )
        if task_name:
            request.task_name.CopyFrom(
                task_definition_pb2.TaskName(org=self._scope.org, project=project, domain=domain, name=task_name)
            )
        return await self._rpc.call("trigger", "ListTriggers", request, entity=f"project {project}/{domain}")

    async def set_active(self, name: identifier_pb2.TriggerName, active: bool) -> None:
        await self._rpc.call(
            "trigger",
            "UpdateTriggers",
            trigger_service_pb2.UpdateTriggersRequest(names=[name], active=active),
            entity=f"trigger {name.name}",
        )


class IdentityService:
    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc

    async def user_info(self) -> identity_pb2.UserInfoResponse:
        return await self._rpc.call("identity", "UserInfo", identity_pb2.UserInfoRequest())
