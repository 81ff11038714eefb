"""TaskService, DataProxy uploads, Project/Secret/Trigger/Cluster/Identity/AuthMetadata,
UNIMPLEMENTED answers and the Connect protocol on the same port."""

from __future__ import annotations

import base64
import hashlib
import time

import grpc
import httpx
import pytest
from flyteidl2.auth import auth_service_pb2, identity_pb2
from flyteidl2.cluster import payload_pb2 as cluster_pb2
from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.secret import definition_pb2 as sdef
from flyteidl2.secret import payload_pb2 as spay
from flyteidl2.task import common_pb2
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.trigger import trigger_service_pb2 as tsvc
from flyteidl2.workflow import run_service_pb2 as rs

from ..helpers import DOMAIN, PROJECT, P, latest_task, task_id, tick_scheduler, wait_done

pytestmark = pytest.mark.timeout(60)
SCOPE = identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN)


async def test_task_service_deploy_get_list_versions(stubs):
    tid = await latest_task(stubs, "sample_tasks.add")
    details = (await stubs.task.GetTaskDetails(ts.GetTaskDetailsRequest(task_id=tid))).details
    assert details.spec.task_template.interface.inputs.variables
    for bad in (task_id("sample_tasks.add", "nope"), task_id("sample_tasks.add", ""), task_id("nope", "v")):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stubs.task.GetTaskDetails(ts.GetTaskDetailsRequest(task_id=bad))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # Upsert: a new version of the same task becomes the latest; deploying again is fine.
    v2 = task_id("sample_tasks.add", "v2-test")
    for _ in range(2):
        await stubs.task.DeployTask(ts.DeployTaskRequest(task_id=v2, spec=details.spec))
    assert (await latest_task(stubs, "sample_tasks.add")).version == "v2-test"
    versions = await stubs.task.ListVersions(
        ts.ListVersionsRequest(task_name=td.TaskName(project=PROJECT, domain=DOMAIN, name="sample_tasks.add"))
    )
    assert versions.versions[0].version == "v2-test" and len(versions.versions) == 2
    listed = await stubs.task.ListTasks(ts.ListTasksRequest(project_id=SCOPE, request=list_pb2.ListRequest(limit=200)))
    names = [t.task_id.name for t in listed.tasks]
    assert len(names) == len(set(names))  # latest version per task
    assert "sample_tasks.add" in names and "sample_tasks._private_helper" not in names
    # The new version (same code) runs too.
    run = (
        await stubs.run.CreateRun(
            rs.CreateRunRequest(
                run_id=identifier_pb2.RunIdentifier(project=PROJECT, domain=DOMAIN, name="v2-run"),
                task_id=v2,
                inputs=common_pb2.Inputs(),
            )
        )
    ).run
    assert run.action.metadata.task.id.version == "v2-test"
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.task.DeployTask(ts.DeployTaskRequest(task_id=task_id("x", "1", project="nope"), spec=details.spec))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_upload_location_signed_put(stubs, server):
    body = b"hello devserver"
    md5 = hashlib.md5(body).digest()
    loc = await stubs.dp.CreateUploadLocation(
        dp.CreateUploadLocationRequest(project=PROJECT, domain=DOMAIN, filename="data/hello.txt", content_md5=md5)
    )
    assert loc.native_url.startswith("file://") and loc.signed_url.startswith(server.url)
    hdr = {"Content-MD5": base64.b64encode(md5).decode()}
    async with httpx.AsyncClient() as http:
        assert (await http.put(loc.signed_url, content=b"tampered body!!", headers=hdr)).status_code == 400
        assert (await http.put(loc.signed_url, content=body, headers={"Content-MD5": "AAAA"})).status_code == 400
        bad_sig = loc.signed_url.replace("sig=", "sig=0")
        assert (await http.put(bad_sig, content=body, headers=hdr)).status_code == 403
        assert (await http.put(loc.signed_url, content=body, headers=hdr)).status_code == 200
        assert (await http.get(loc.signed_url)).content == body
    from urllib.parse import unquote, urlparse

    with open(unquote(urlparse(loc.native_url).path), "rb") as f:  # noqa: ASYNC230 - the test reads what was stored
        assert f.read() == body
    expired = await stubs.dp.CreateUploadLocation(
        dp.CreateUploadLocationRequest(
            project=PROJECT, domain=DOMAIN, filename="late.txt", content_md5=md5, expires_in={"seconds": 1}
        )
    )
    time.sleep(1.2)  # noqa: ASYNC251 - the server is in another thread; the test waits out an expiry
    async with httpx.AsyncClient() as http:
        r = await http.put(expired.signed_url, content=body, headers=hdr)
        assert r.status_code == 403 and b"expired" in r.content


async def test_projects(stubs):
    got = (await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))).project
    assert {d.id for d in got.domains} == {"development", "staging", "production"}
    await stubs.project.CreateProject(pj.CreateProjectRequest(project=pj.Project(id="newproj", name="New")))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.project.CreateProject(pj.CreateProjectRequest(project=pj.Project(id="newproj")))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    ids = [p.id for p in (await stubs.project.ListProjects(pj.ListProjectsRequest())).projects.projects]
    assert {"flytesnacks", "newproj"} <= set(ids)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.project.GetProject(pj.GetProjectRequest(id="nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_secrets_never_return_values(stubs):
    sid = sdef.SecretIdentifier(name="token", project=PROJECT, domain=DOMAIN)
    await stubs.secret.CreateSecret(
        spay.CreateSecretRequest(id=sid, secret_spec=sdef.SecretSpec(string_value="s3cr3t"))
    )
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.secret.CreateSecret(spay.CreateSecretRequest(id=sid, secret_spec=sdef.SecretSpec(string_value="x")))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    got = await stubs.secret.GetSecret(spay.GetSecretRequest(id=sid))
    listed = await stubs.secret.ListSecrets(spay.ListSecretsRequest(project=PROJECT, domain=DOMAIN))
    assert b"s3cr3t" not in got.SerializeToString() + listed.SerializeToString()
    assert [s.id.name for s in listed.secrets] == ["token"]
    await stubs.secret.UpdateSecret(spay.UpdateSecretRequest(id=sid, secret_spec=sdef.SecretSpec(string_value="y")))
    await stubs.secret.DeleteSecret(spay.DeleteSecretRequest(id=sid))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.secret.GetSecret(spay.GetSecretRequest(id=sid))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_triggers_schedule_creates_runs(stubs, server):
    from flyteidl2.task import common_pb2 as tc

    tid = await latest_task(stubs, "sample_tasks.add")
    name = identifier_pb2.TriggerName(project=PROJECT, domain=DOMAIN, name="every-minute", task_name=tid.name)
    auto = tc.TriggerAutomationSpec(
        type=tc.TYPE_SCHEDULE, schedule=tc.Schedule(rate=tc.FixedRate(value=1, unit=tc.FIXED_RATE_UNIT_MINUTE))
    )
    from ..helpers import inputs

    spec = tdef.TriggerSpec(active=True, task_version=tid.version, inputs=inputs(x=20, y=22))
    dep = await stubs.trigger.DeployTrigger(tsvc.DeployTriggerRequest(name=name, spec=spec, automation_spec=auto))
    assert dep.trigger.id.revision == 1
    got = await stubs.trigger.GetTriggerDetails(tsvc.GetTriggerDetailsRequest(name=name))
    assert got.trigger.automation_spec.schedule.rate.value == 1
    listed = await stubs.trigger.ListTriggers(tsvc.ListTriggersRequest(project_id=SCOPE))
    assert [t.id.name.name for t in listed.triggers] == ["every-minute"] and listed.triggers[0].active
    # Advance the scheduler's clock by two minutes: exactly one run, of the trigger's task.
    assert await tick_scheduler(server, time.time() + 61) == 1
    runs = await stubs.run.ListRuns(rs.ListRunsRequest(trigger_name=name))
    assert len(runs.runs) == 1
    run_name = runs.runs[0].action.id.run.name
    assert (await wait_done(stubs, run_name)).status.phase == P.ACTION_PHASE_SUCCEEDED
    await stubs.trigger.UpdateTriggers(tsvc.UpdateTriggersRequest(names=[name], active=False))
    assert not (await stubs.trigger.ListTriggers(tsvc.ListTriggersRequest(project_id=SCOPE))).triggers[0].active
    hist = await stubs.trigger.GetTriggerRevisionHistory(tsvc.GetTriggerRevisionHistoryRequest(name=name))
    assert [t.id.revision for t in hist.triggers] == [2, 1]
    await stubs.trigger.DeleteTriggers(tsvc.DeleteTriggersRequest(names=[name]))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.trigger.GetTriggerDetails(tsvc.GetTriggerDetailsRequest(name=name))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cluster_identity_auth_metadata(stubs):
    sel = await stubs.cluster.SelectCluster(
        cluster_pb2.SelectClusterRequest(operation=cluster_pb2.SelectClusterRequest.OPERATION_UPLOAD_INPUTS)
    )
    assert sel.cluster_endpoint == ""
    cfg = await stubs.auth.GetPublicClientConfig(auth_service_pb2.GetPublicClientConfigRequest())
    assert cfg.authorization_metadata_key == "authorization"
    md = await stubs.auth.GetOAuth2Metadata(auth_service_pb2.GetOAuth2MetadataRequest())
    assert md.token_endpoint.endswith("/oauth2/token")
    assert (await stubs.identity.UserInfo(identity_pb2.UserInfoRequest())).subject == "local"


async def test_unimplemented_methods_and_unknown_services(stubs):
    for path in (
        "/flyteidl2.workflow.RunService/WatchClusterEvents",
        "/flyteidl2.workflow.RunService/NoSuchMethod",
        "/no.such.Service/Call",
    ):
        call = stubs.channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED, path


def test_healthz(server):
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200 and r.text.strip() == "ok"


async def test_connect_protocol_same_port(server):
    from connectrpc.errors import ConnectError
    from flyteidl2.task.task_service_connect import TaskServiceClient
    from flyteidl2.workflow.run_service_connect import RunServiceClient

    async with (
        httpx.AsyncClient() as http,
        TaskServiceClient(server.url) as tasks,
        RunServiceClient(server.url) as runs,
    ):
        listed = await tasks.list_tasks(ts.ListTasksRequest(project_id=SCOPE))
        tid = next(t.task_id for t in listed.tasks if t.task_id.name == "sample_tasks.add")
        from ..helpers import action_id, inputs, run_id

        await runs.create_run(rs.CreateRunRequest(run_id=run_id("connect-1"), task_id=tid, inputs=inputs(x=1, y=2)))
        last = None
        async for resp in runs.watch_action_details(rs.WatchActionDetailsRequest(action_id=action_id("connect-1"))):
            last = resp.details
        assert last.status.phase == P.ACTION_PHASE_SUCCEEDED
        with pytest.raises(ConnectError) as e:
            await runs.get_run_details(rs.GetRunDetailsRequest(run_id=run_id("nope")))
        assert e.value.code.name == "NOT_FOUND"
        r = await http.post(
            f"{server.url}/no.such.Service/Call", content=b"{}", headers={"content-type": "application/json"}
        )
        assert r.status_code == 404 and r.json()["code"] == "unimplemented"
