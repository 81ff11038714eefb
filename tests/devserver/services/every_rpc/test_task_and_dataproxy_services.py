"""Every RPC of TaskService and DataProxyService, over every protocol (see ``cases.py``)."""

from __future__ import annotations

import hashlib
from urllib.parse import unquote, urlparse

import pytest
from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.task import common_pb2 as tc
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.task import task_service_pb2 as ts

from ...helpers import DOMAIN, PROJECT, action_id, inputs
from .cases import (
    ADD,
    CHATTY_RUN,
    DONE_RUN,
    MISSING,
    SCOPE,
    Env,
    Err,
    Ok,
    Unimpl,
    inputs_of,
    outputs_of,
    table_tests,
    unimplemented_test,
)

pytestmark = pytest.mark.timeout(60)


def _deployed_id(env: Env) -> td.TaskIdentifier:
    return td.TaskIdentifier(project=PROJECT, domain=DOMAIN, name="rpc_matrix.add", version=env.name("v1"))


def _req_deploy_task(env: Env):
    return ts.DeployTaskRequest(task_id=_deployed_id(env), spec=env.world.add_spec)


async def _check_deploy_task(env: Env, resp):
    assert resp == ts.DeployTaskResponse()
    got = await env.rpc.call("TaskService", "GetTaskDetails", ts.GetTaskDetailsRequest(task_id=_deployed_id(env)))
    assert got.details.task_id == _deployed_id(env)
    assert got.details.spec.task_template.interface == env.world.add_spec.task_template.interface


def _check_task_details(env: Env, resp):
    assert resp.details.task_id == env.world.add_id
    assert [v.key for v in resp.details.spec.task_template.interface.inputs.variables] == ["x", "y"]
    assert [v.key for v in resp.details.spec.task_template.interface.outputs.variables] == ["o0"]


def _check_list_tasks(env: Env, resp):
    names = [t.task_id.name for t in resp.tasks]
    assert ADD in names and "sample_tasks.chatty" in names
    assert len(names) == len(set(names))  # latest version per task
    assert resp.metadata.total >= len(names)


def _check_list_versions(env: Env, resp):
    assert env.world.add_id.version in [v.version for v in resp.versions]
    assert all(v.deployed_at.seconds > 0 for v in resp.versions)


_UPLOAD_BODY = b"every rpc"


def _check_upload_location(env: Env, resp):
    assert resp.signed_url.startswith(env.server.url + "/"), resp.signed_url
    assert resp.native_url.startswith("file://") and resp.native_url.endswith("/hello.txt")
    assert resp.expires_at.seconds > 0
    assert resp.headers["Content-MD5"]


def _req_upload_inputs(env: Env):
    return dp.UploadInputsRequest(project_id=SCOPE, inputs=inputs(x=7, y=len(env.protocol)))


def _check_upload_inputs(env: Env, resp):
    sent = _req_upload_inputs(env).inputs
    off = resp.offloaded_input_data
    assert off.inputs_hash == hashlib.sha256(sent.SerializeToString(deterministic=True)).hexdigest()
    assert off.uri.startswith("file://")
    with open(unquote(urlparse(off.uri).path), "rb") as f:
        assert tc.Inputs.FromString(f.read()) == sent


def _check_dp_action_data(env: Env, resp):
    assert inputs_of(resp) == {"x": 2, "y": 3}
    assert outputs_of(resp) == {"o0": 5}
    assert resp.inputs_uri.startswith("file://") and resp.outputs_uri.startswith("file://")


def _check_tail_logs(env: Env, msgs):
    text = "\n".join(ln.message for r in msgs for logs in r.logs for ln in logs.lines)
    for i in range(2):
        assert f"stdout line {i}" in text and f"stderr line {i}" in text, text


OK_CASES: list[Ok] = [
    # TaskService
    Ok("TaskService", "DeployTask", _req_deploy_task, _check_deploy_task),
    Ok(
        "TaskService", "GetTaskDetails", lambda e: ts.GetTaskDetailsRequest(task_id=e.world.add_id), _check_task_details
    ),
    Ok(
        "TaskService",
        "ListTasks",
        lambda e: ts.ListTasksRequest(project_id=SCOPE, request=list_pb2.ListRequest(limit=200)),
        _check_list_tasks,
    ),
    Ok(
        "TaskService",
        "ListVersions",
        lambda e: ts.ListVersionsRequest(task_name=td.TaskName(project=PROJECT, domain=DOMAIN, name=ADD)),
        _check_list_versions,
    ),
    # DataProxyService
    Ok(
        "DataProxyService",
        "CreateUploadLocation",
        lambda e: dp.CreateUploadLocationRequest(
            project=PROJECT, domain=DOMAIN, filename="hello.txt", content_md5=hashlib.md5(_UPLOAD_BODY).digest()
        ),
        _check_upload_location,
    ),
    Ok("DataProxyService", "UploadInputs", _req_upload_inputs, _check_upload_inputs),
    Ok(
        "DataProxyService",
        "GetActionData",
        lambda e: dp.GetActionDataRequest(action_id=action_id(DONE_RUN)),
        _check_dp_action_data,
    ),
    Ok("DataProxyService", "TailLogs", lambda e: dp.TailLogsRequest(action_id=action_id(CHATTY_RUN)), _check_tail_logs),
]


def _missing_action():
    return action_id(MISSING)


ERROR_CASES: list[Err] = [
    # TaskService
    Err(
        "TaskService",
        "DeployTask",
        lambda e: ts.DeployTaskRequest(
            task_id=td.TaskIdentifier(project=MISSING, domain=DOMAIN, name="x", version="1"), spec=e.world.add_spec
        ),
        "NOT_FOUND",
        "missing-project",
    ),
    Err(
        "TaskService",
        "DeployTask",
        lambda e: ts.DeployTaskRequest(task_id=td.TaskIdentifier(name="x", version="1"), spec=e.world.add_spec),
        "INVALID_ARGUMENT",
        "no-project",
    ),
    Err(
        "TaskService",
        "GetTaskDetails",
        lambda e: ts.GetTaskDetailsRequest(
            task_id=td.TaskIdentifier(project=PROJECT, domain=DOMAIN, name=ADD, version="no-such-version")
        ),
        "NOT_FOUND",
        "unknown-version",
    ),
    Err(
        "TaskService",
        "GetTaskDetails",
        lambda e: ts.GetTaskDetailsRequest(task_id=td.TaskIdentifier(project=PROJECT, domain=DOMAIN, name=ADD)),
        "NOT_FOUND",
        "no-version",
    ),
    Err(
        "TaskService",
        "ListVersions",
        lambda e: ts.ListVersionsRequest(
            task_name=td.TaskName(project=PROJECT, domain=DOMAIN, name="sample_tasks.nope")
        ),
        "NOT_FOUND",
    ),
    # DataProxyService
    Err(
        "DataProxyService",
        "CreateUploadLocation",
        lambda e: dp.CreateUploadLocationRequest(project=PROJECT, domain=DOMAIN),
        "INVALID_ARGUMENT",
        "no-filename",
    ),
    Err(
        "DataProxyService",
        "CreateUploadLocation",
        lambda e: dp.CreateUploadLocationRequest(project=MISSING, domain=DOMAIN, filename="f.txt"),
        "NOT_FOUND",
        "missing-project",
    ),
    Err(
        "DataProxyService",
        "UploadInputs",
        lambda e: dp.UploadInputsRequest(inputs=inputs(x=1)),
        "INVALID_ARGUMENT",
        "no-scope",
    ),
    Err(
        "DataProxyService",
        "UploadInputs",
        lambda e: dp.UploadInputsRequest(
            project_id=identifier_pb2.ProjectIdentifier(name=MISSING, domain=DOMAIN), inputs=inputs(x=1)
        ),
        "NOT_FOUND",
        "missing-project",
    ),
    Err(
        "DataProxyService", "GetActionData", lambda e: dp.GetActionDataRequest(action_id=_missing_action()), "NOT_FOUND"
    ),
    Err("DataProxyService", "TailLogs", lambda e: dp.TailLogsRequest(action_id=_missing_action()), "NOT_FOUND"),
    Err(
        "DataProxyService",
        "TailLogs",
        lambda e: dp.TailLogsRequest(action_id=action_id(CHATTY_RUN), attempt=9),
        "NOT_FOUND",
        "unknown-attempt",
    ),
]

UNIMPLEMENTED_CASES: list[Unimpl] = [
    Unimpl("DataProxyService", "CreateDownloadLink"),
]


test_tables_cover_every_rpc, test_rpc_ok, test_rpc_error_code = table_tests(
    "test_task_and_dataproxy_services", OK_CASES, ERROR_CASES, UNIMPLEMENTED_CASES
)
test_rpc_unimplemented = unimplemented_test(UNIMPLEMENTED_CASES)
