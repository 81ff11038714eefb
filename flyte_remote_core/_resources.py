"""Projects, secrets, triggers, the current user and uploads: the client's smaller services."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._entities import Project, Secret, Trigger, User
from ._syncify import syncify

if TYPE_CHECKING:
    from ._rpc import Rpc


class ResourcesMixin:
    """Mixed into :class:`FlyteClient`; relies on its ``_rpc``, ``org`` and ``_scope``."""

    _rpc: Rpc
    org: str
    project: str
    _scope: Any  # (project, domain) -> defaults applied; defined by FlyteClient

    # -- projects, secrets, triggers, user, uploads ---------------------------------------------
    @syncify
    async def get_project(self, name: str | None = None) -> Project:
        from flyteidl2.project import project_service_pb2

        name = name or self.project
        response = await self._rpc.call("project", "GetProject", project_service_pb2.GetProjectRequest(id=name, org=self.org),
                                        entity=f"project {name}")
        return Project(response.project, client=self)

    @syncify
    async def list_projects(self, *, limit: int = 100) -> list[Project]:
        from flyteidl2.project import project_service_pb2

        response = await self._rpc.call("project", "ListProjects",
                                        project_service_pb2.ListProjectsRequest(limit=limit, org=self.org))
        return [Project(p, client=self) for p in response.projects.projects]

    def _secret_id(self, name: str, project: str | None, domain: str | None) -> Any:
        from flyteidl2.secret import definition_pb2

        return definition_pb2.SecretIdentifier(name=name, organization=self.org, project=project or "", domain=domain or "")

    @syncify
    async def create_secret(self, name: str, value: str | bytes, *, project: str | None = None,
                            domain: str | None = None, type: str = "generic") -> None:
        from flyteidl2.secret import definition_pb2, payload_pb2

        spec = definition_pb2.SecretSpec(type=definition_pb2.SecretType.Value(f"SECRET_TYPE_{type.upper()}"))
        if isinstance(value, bytes):
            spec.binary_value = value
        else:
            spec.string_value = value
        await self._rpc.call("secret", "CreateSecret",
                             payload_pb2.CreateSecretRequest(id=self._secret_id(name, project, domain), secret_spec=spec),
                             entity=f"secret {name}")

    @syncify
    async def get_secret(self, name: str, *, project: str | None = None, domain: str | None = None) -> Secret:
        from flyteidl2.secret import payload_pb2

        response = await self._rpc.call("secret", "GetSecret",
                                        payload_pb2.GetSecretRequest(id=self._secret_id(name, project, domain)),
                                        entity=f"secret {name}")
        return Secret(response.secret, client=self)

    @syncify
    async def list_secrets(self, *, project: str | None = None, domain: str | None = None, limit: int = 100) -> list[Secret]:
        from flyteidl2.secret import payload_pb2

        response = await self._rpc.call("secret", "ListSecrets", payload_pb2.ListSecretsRequest(
            organization=self.org, project=project or "", domain=domain or "", limit=limit))
        return [Secret(s, client=self) for s in response.secrets]

    @syncify
    async def delete_secret(self, name: str, *, project: str | None = None, domain: str | None = None) -> None:
        from flyteidl2.secret import payload_pb2

        await self._rpc.call("secret", "DeleteSecret", payload_pb2.DeleteSecretRequest(id=self._secret_id(name, project, domain)),
                             entity=f"secret {name}", idempotent=False)

    def _trigger_name(self, name: str, task_name: str, project: str | None, domain: str | None) -> Any:
        from flyteidl2.common import identifier_pb2

        project, domain = self._scope(project, domain)
        return identifier_pb2.TriggerName(org=self.org, project=project, domain=domain, name=name, task_name=task_name)

    @syncify
    async def get_trigger(self, name: str, *, task_name: str, project: str | None = None, domain: str | None = None) -> Trigger:
        from flyteidl2.trigger import trigger_service_pb2

        response = await self._rpc.call("trigger", "GetTriggerDetails", trigger_service_pb2.GetTriggerDetailsRequest(
            name=self._trigger_name(name, task_name, project, domain)), entity=f"trigger {name} of {task_name}")
        details = response.trigger
        from flyteidl2.trigger import trigger_definition_pb2

        pb = trigger_definition_pb2.Trigger(id=details.id, active=details.spec.active,
                                            automation_spec=details.automation_spec)
        return Trigger(pb, details, client=self)

    @syncify
    async def list_triggers(self, *, task_name: str | None = None, project: str | None = None,
                            domain: str | None = None, limit: int = 100) -> list[Trigger]:
        from flyteidl2.common import identifier_pb2, list_pb2
        from flyteidl2.trigger import trigger_service_pb2

        project, domain = self._scope(project, domain)
        request = trigger_service_pb2.ListTriggersRequest(
            org=self.org, request=list_pb2.ListRequest(limit=limit),
            project_id=identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project))
        if task_name:
            request.task_name.CopyFrom(_task_name(self.org, project, domain, task_name))
        response = await self._rpc.call("trigger", "ListTriggers", request, entity=f"project {project}/{domain}")
        return [Trigger(t, client=self) for t in response.triggers]

    @syncify
    async def set_trigger_active(self, name: str, active: bool, *, task_name: str, project: str | None = None,
                                 domain: str | None = None) -> None:
        from flyteidl2.trigger import trigger_service_pb2

        await self._rpc.call("trigger", "UpdateTriggers", trigger_service_pb2.UpdateTriggersRequest(
            names=[self._trigger_name(name, task_name, project, domain)], active=active), entity=f"trigger {name}")

    @syncify
    async def user(self) -> User:
        from flyteidl2.auth import identity_pb2

        response = await self._rpc.call("identity", "UserInfo", identity_pb2.UserInfoRequest())
        return User(response)

    @syncify
    async def upload_file(self, fp: Path | str, verify: bool = True) -> tuple[str, str]:
        """Upload a file through the data proxy; returns ``(md5 hex, remote URI)``."""
        from ._upload import upload_file

        return await upload_file(self, fp, verify=verify)

    @syncify
    async def upload_dir(self, dir_path: Path | str, verify: bool = True) -> str:
        """Upload a directory keeping sub-folder paths; returns the remote directory URI."""
        from ._upload import upload_dir

        return await upload_dir(self, dir_path, verify=verify)


def _task_name(org: str, project: str, domain: str, name: str) -> Any:
    from flyteidl2.task import task_definition_pb2

    return task_definition_pb2.TaskName(org=org, project=project, domain=domain, name=name)
