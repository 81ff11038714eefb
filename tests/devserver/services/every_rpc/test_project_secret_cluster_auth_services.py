"""Every RPC of ProjectService, SecretService, ClusterService, IdentityService and
AuthMetadataService (auth off), over every protocol (see ``cases.py``)."""

from __future__ import annotations

import pytest
from flyteidl2.auth import auth_service_pb2, identity_pb2
from flyteidl2.cluster import payload_pb2 as cluster_pb2
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.secret import definition_pb2 as sdef
from flyteidl2.secret import payload_pb2 as spay

from ...helpers import DOMAIN, PROJECT
from . import rpc_matrix as m
from .cases import EXTRA_PROJECT, MISSING, SECRET, Env, Err, Ok, Unimpl, table_tests

pytestmark = pytest.mark.timeout(60)


async def _check_create_project(env: Env, resp):
    assert resp == pj.CreateProjectResponse()
    got = await env.rpc.call("ProjectService", "GetProject", pj.GetProjectRequest(id=env.name("rpc-newproj")))
    assert got.project.id == env.name("rpc-newproj") and got.project.name == "New"
    assert {d.id for d in got.project.domains} == {"development", "staging", "production"}


def _check_get_project(env: Env, resp):
    assert resp.project.id == PROJECT
    assert {d.id for d in resp.project.domains} == {"development", "staging", "production"}


def _check_list_projects(env: Env, resp):
    ids = {p.id for p in resp.projects.projects}
    assert {PROJECT, EXTRA_PROJECT} <= ids


async def _check_update_project(env: Env, resp):
    assert resp == pj.UpdateProjectResponse()
    got = await env.rpc.call("ProjectService", "GetProject", pj.GetProjectRequest(id=EXTRA_PROJECT))
    assert got.project.description == env.name("updated")


def _sid(name: str) -> sdef.SecretIdentifier:
    return sdef.SecretIdentifier(name=name, project=PROJECT, domain=DOMAIN)


async def _make_secret(env: Env, base: str) -> str:
    name = env.name(base)
    await env.setup.secret.CreateSecret(
        spay.CreateSecretRequest(id=_sid(name), secret_spec=sdef.SecretSpec(string_value="v1")), timeout=10
    )
    return name


async def _check_create_secret(env: Env, resp):
    assert resp == spay.CreateSecretResponse()
    got = await env.rpc.call("SecretService", "GetSecret", spay.GetSecretRequest(id=_sid(env.name("rpc-new"))))
    assert got.secret.id.name == env.name("rpc-new")
    assert b"brand-new" not in got.SerializeToString()


async def _req_update_secret(env: Env):
    name = await _make_secret(env, "rpc-upd")
    return spay.UpdateSecretRequest(
        id=_sid(name), secret_spec=sdef.SecretSpec(string_value="v2", type=sdef.SECRET_TYPE_IMAGE_PULL_SECRET)
    )


async def _check_update_secret(env: Env, resp):
    assert resp == spay.UpdateSecretResponse()
    got = await env.rpc.call("SecretService", "GetSecret", spay.GetSecretRequest(id=_sid(env.name("rpc-upd"))))
    assert got.secret.secret_metadata.type == sdef.SECRET_TYPE_IMAGE_PULL_SECRET


def _check_get_secret(env: Env, resp):
    assert resp.secret.id == _sid(SECRET)
    assert resp.secret.secret_metadata.secret_status.overall_status == sdef.FULLY_PRESENT
    assert b"hunter2" not in resp.SerializeToString()  # values are never returned


async def _req_delete_secret(env: Env):
    return spay.DeleteSecretRequest(id=_sid(await _make_secret(env, "rpc-del")))


async def _check_delete_secret(env: Env, resp):
    assert resp == spay.DeleteSecretResponse()
    with pytest.raises(m.RPC_ERRORS) as e:
        await env.rpc.call("SecretService", "GetSecret", spay.GetSecretRequest(id=_sid(env.name("rpc-del"))))
    assert m.code_name(e.value) == "NOT_FOUND"


def _check_list_secrets(env: Env, resp):
    assert SECRET in [s.id.name for s in resp.secrets]
    assert b"hunter2" not in resp.SerializeToString()


OK_CASES: list[Ok] = [
    # ClusterService
    Ok(
        "ClusterService",
        "SelectCluster",
        lambda e: cluster_pb2.SelectClusterRequest(operation=cluster_pb2.SelectClusterRequest.OPERATION_UPLOAD_INPUTS),
        lambda e, r: (r.cluster == "devserver" and r.cluster_endpoint == "") or pytest.fail(str(r)),
    ),
    # ProjectService
    Ok(
        "ProjectService",
        "CreateProject",
        lambda e: pj.CreateProjectRequest(project=pj.Project(id=e.name("rpc-newproj"), name="New")),
        _check_create_project,
    ),
    Ok("ProjectService", "GetProject", lambda e: pj.GetProjectRequest(id=PROJECT), _check_get_project),
    Ok("ProjectService", "ListProjects", lambda e: pj.ListProjectsRequest(), _check_list_projects),
    Ok(
        "ProjectService",
        "UpdateProject",
        lambda e: pj.UpdateProjectRequest(
            project=pj.Project(id=EXTRA_PROJECT, name="RPC matrix", description=e.name("updated"))
        ),
        _check_update_project,
    ),
    # SecretService
    Ok(
        "SecretService",
        "CreateSecret",
        lambda e: spay.CreateSecretRequest(
            id=_sid(e.name("rpc-new")), secret_spec=sdef.SecretSpec(string_value="brand-new")
        ),
        _check_create_secret,
    ),
    Ok("SecretService", "UpdateSecret", _req_update_secret, _check_update_secret),
    Ok("SecretService", "GetSecret", lambda e: spay.GetSecretRequest(id=_sid(SECRET)), _check_get_secret),
    Ok("SecretService", "DeleteSecret", _req_delete_secret, _check_delete_secret),
    Ok(
        "SecretService",
        "ListSecrets",
        lambda e: spay.ListSecretsRequest(project=PROJECT, domain=DOMAIN),
        _check_list_secrets,
    ),
    # IdentityService, AuthMetadataService
    Ok(
        "IdentityService",
        "UserInfo",
        lambda e: identity_pb2.UserInfoRequest(),
        lambda e, r: (r.subject == "local" and r.email == "local@localhost") or pytest.fail(str(r)),
    ),
    Ok(
        "AuthMetadataService",
        "GetOAuth2Metadata",
        lambda e: auth_service_pb2.GetOAuth2MetadataRequest(),
        lambda e, r: (
            (r.issuer == e.server.url and r.token_endpoint == f"{e.server.url}/oauth2/token") or pytest.fail(str(r))
        ),
    ),
    Ok(
        "AuthMetadataService",
        "GetPublicClientConfig",
        lambda e: auth_service_pb2.GetPublicClientConfigRequest(),
        lambda e, r: (r.authorization_metadata_key == "authorization" and r.client_id) or pytest.fail(str(r)),
    ),
]

ERROR_CASES: list[Err] = [
    # ProjectService
    Err(
        "ProjectService",
        "CreateProject",
        lambda e: pj.CreateProjectRequest(project=pj.Project(id=PROJECT)),
        "ALREADY_EXISTS",
    ),
    Err(
        "ProjectService",
        "CreateProject",
        lambda e: pj.CreateProjectRequest(project=pj.Project(name="no id")),
        "INVALID_ARGUMENT",
        "no-id",
    ),
    Err("ProjectService", "GetProject", lambda e: pj.GetProjectRequest(id=MISSING), "NOT_FOUND"),
    Err(
        "ProjectService",
        "UpdateProject",
        lambda e: pj.UpdateProjectRequest(project=pj.Project(id=MISSING)),
        "NOT_FOUND",
    ),
    # SecretService
    Err(
        "SecretService",
        "CreateSecret",
        lambda e: spay.CreateSecretRequest(id=_sid(SECRET), secret_spec=sdef.SecretSpec(string_value="x")),
        "ALREADY_EXISTS",
    ),
    Err(
        "SecretService",
        "CreateSecret",
        lambda e: spay.CreateSecretRequest(id=_sid("rpc-novalue")),
        "INVALID_ARGUMENT",
        "no-value",
    ),
    Err(
        "SecretService",
        "CreateSecret",
        lambda e: spay.CreateSecretRequest(
            id=sdef.SecretIdentifier(project=PROJECT, domain=DOMAIN), secret_spec=sdef.SecretSpec(string_value="x")
        ),
        "INVALID_ARGUMENT",
        "no-name",
    ),
    Err(
        "SecretService",
        "UpdateSecret",
        lambda e: spay.UpdateSecretRequest(id=_sid(MISSING), secret_spec=sdef.SecretSpec(string_value="x")),
        "NOT_FOUND",
    ),
    Err("SecretService", "GetSecret", lambda e: spay.GetSecretRequest(id=_sid(MISSING)), "NOT_FOUND"),
    Err("SecretService", "DeleteSecret", lambda e: spay.DeleteSecretRequest(id=_sid(MISSING)), "NOT_FOUND"),
]

UNIMPLEMENTED_CASES: list[Unimpl] = []  # every method of these services is implemented


test_tables_cover_every_rpc, test_rpc_ok, test_rpc_error_code = table_tests(
    "test_project_secret_cluster_auth_services", OK_CASES, ERROR_CASES, UNIMPLEMENTED_CASES
)
