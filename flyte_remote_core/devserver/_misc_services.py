"""ClusterService, ProjectService, SecretService, and the unauthenticated
AuthMetadataService / IdentityService fallbacks (used when auth is off)."""

from __future__ import annotations

import time
from collections.abc import Callable

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.auth import auth_service_pb2, identity_pb2
from flyteidl2.auth.auth_service_connect import AuthMetadataService
from flyteidl2.auth.identity_connect import IdentityService
from flyteidl2.cluster import payload_pb2 as cluster_pb2
from flyteidl2.cluster.service_connect import ClusterService
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.project.project_service_connect import ProjectService
from flyteidl2.secret import definition_pb2 as sdef
from flyteidl2.secret import payload_pb2 as spay
from flyteidl2.secret.secret_connect import SecretService

from ._engine import Engine, not_found, ts
from ._listing import DEFAULT_LIMIT, MAX_LIMIT


class ClusterServiceImpl(ClusterService):
    async def select_cluster(self, request, ctx):
        # An empty endpoint means "use the endpoint you are already talking to".
        return cluster_pb2.SelectClusterResponse(cluster_endpoint="", cluster="devserver")


class ProjectServiceImpl(ProjectService):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def create_project(self, request, ctx):
        proj = request.project
        if not proj.id:
            raise ConnectError(Code.INVALID_ARGUMENT, "project.id is required")
        self.engine.put_project(proj, create=True)
        return pj.CreateProjectResponse()

    async def update_project(self, request, ctx):
        self.engine.put_project(request.project, create=False)
        return pj.UpdateProjectResponse()

    async def get_project(self, request, ctx):
        proj = self.engine.get_project(request.id)
        if proj is None:
            raise not_found(f"project {request.id!r}")
        return pj.GetProjectResponse(project=proj)

    async def list_projects(self, request, ctx):
        projects = self.engine.list_projects()
        offset = int(request.token) if request.token.isdigit() else 0
        limit = min(request.limit or DEFAULT_LIMIT, MAX_LIMIT)
        window = projects[offset : offset + limit]
        token = str(offset + limit) if offset + limit < len(projects) else ""
        return pj.ListProjectsResponse(projects=pj.Projects(projects=window, token=token))


class SecretServiceImpl(SecretService):
    """Secrets are stored but values are never returned by Get or List."""

    def __init__(self, engine: Engine) -> None:
        self.store = engine.store

    @staticmethod
    def _key(sid: sdef.SecretIdentifier) -> tuple:
        if not sid.name:
            raise ConnectError(Code.INVALID_ARGUMENT, "secret id needs a name")
        return (sid.organization, sid.project, sid.domain, sid.name)

    def _row(self, key: tuple):
        return self.store.one(
            "SELECT created_at, spec FROM secrets WHERE org=? AND project=? AND domain=? AND name=?", key
        )

    @staticmethod
    def _secret(key: tuple, created_at: float, spec_blob: bytes) -> sdef.Secret:
        spec = sdef.SecretSpec.FromString(spec_blob)
        s = sdef.Secret(id=sdef.SecretIdentifier(organization=key[0], project=key[1], domain=key[2], name=key[3]))
        s.secret_metadata.created_time.CopyFrom(ts(created_at))
        s.secret_metadata.type = spec.type
        s.secret_metadata.secret_status.overall_status = sdef.FULLY_PRESENT
        return s

    async def create_secret(self, request, ctx):
        key = self._key(request.id)
        if request.secret_spec.WhichOneof("value") is None:
            raise ConnectError(Code.INVALID_ARGUMENT, "secret_spec needs a string_value or a binary_value")
        if self._row(key) is not None:
            raise ConnectError(Code.ALREADY_EXISTS, f"secret {key[3]!r} already exists")
        self.store.execute(
            "INSERT INTO secrets (org, project, domain, name, created_at, spec) VALUES (?, ?, ?, ?, ?, ?)",
            (*key, time.time(), request.secret_spec.SerializeToString()),
        )
        return spay.CreateSecretResponse()

    async def update_secret(self, request, ctx):
        key = self._key(request.id)
        if self._row(key) is None:
            raise not_found(f"secret {key[3]!r}")
        self.store.execute(
            "UPDATE secrets SET spec=? WHERE org=? AND project=? AND domain=? AND name=?",
            (request.secret_spec.SerializeToString(), *key),
        )
        return spay.UpdateSecretResponse()

    async def get_secret(self, request, ctx):
        key = self._key(request.id)
        row = self._row(key)
        if row is None:
            raise not_found(f"secret {key[3]!r}")
        return spay.GetSecretResponse(secret=self._secret(key, row[0], row[1]))

    async def delete_secret(self, request, ctx):
        key = self._key(request.id)
        if self._row(key) is None:
            raise not_found(f"secret {key[3]!r}")
        self.store.execute("DELETE FROM secrets WHERE org=? AND project=? AND domain=? AND name=?", key)
        return spay.DeleteSecretResponse()

    async def list_secrets(self, request, ctx):
        rows = self.store.all(
            "SELECT org, project, domain, name, created_at, spec FROM secrets WHERE org=? AND project=? AND domain=?"
            " ORDER BY name",
            (request.organization, request.project, request.domain),
        )
        offset = int(request.token) if request.token.isdigit() else 0
        limit = min(request.limit or DEFAULT_LIMIT, MAX_LIMIT)
        window = rows[offset : offset + limit]
        token = str(offset + limit) if offset + limit < len(rows) else ""
        return spay.ListSecretsResponse(
            secrets=[self._secret(tuple(r[:4]), r[4], r[5]) for r in window], token=token
        )


class AuthMetadataFallback(AuthMetadataService):
    """Auth off: answer like the open-source backend (header key ``authorization``)."""

    def __init__(self, base_url: Callable[[], str]) -> None:
        self.base_url = base_url

    async def get_o_auth2_metadata(self, request, ctx):
        base = self.base_url()
        return auth_service_pb2.GetOAuth2MetadataResponse(
            issuer=base,
            authorization_endpoint=f"{base}/oauth2/authorize",
            token_endpoint=f"{base}/oauth2/token",
            response_types_supported=["code", "token"],
            scopes_supported=["all"],
            token_endpoint_auth_methods_supported=["client_secret_basic"],
            grant_types_supported=["client_credentials"],
        )

    async def get_public_client_config(self, request, ctx):
        return auth_service_pb2.GetPublicClientConfigResponse(
            client_id="flytectl",
            redirect_uri="http://localhost:53593/callback",
            scopes=["all"],
            authorization_metadata_key="authorization",
        )


class IdentityFallback(IdentityService):
    async def user_info(self, request, ctx):
        return identity_pb2.UserInfoResponse(
            subject="local", name="Local User", preferred_username="local", email="local@localhost"
        )
