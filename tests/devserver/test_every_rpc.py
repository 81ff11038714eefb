"""Every RPC the devserver serves, over gRPC (grpc.aio) and Connect (HTTP/1.1).

Three tables, each parametrized over the protocols:

* ``OK_CASES``: one real, successful call per RPC (a few RPCs have extra labelled
  variants) with an assertion on the response and, for mutations, a read-back
  through the same protocol. Streams: the first message(s) are read, then closed.
* ``ERROR_CASES``: the status code of the documented error of an RPC (unknown entity,
  invalid argument, ...; REFERENCE.md section 2b). The same code name is expected
  over every protocol (connectrpc ``Code`` and grpc ``StatusCode`` share names).
* ``UNIMPLEMENTED_CASES``: RPCs of served services the devserver does not implement,
  unknown methods and unknown services answer UNIMPLEMENTED (never a hang or a bare
  HTTP error).

Protocols: ``grpc`` (grpc.aio stubs) and ``connect`` (flyteidl2's generated Connect
clients, binary protobuf) are the two the devserver must serve; ``connect-json``
(JSON codec, as browser consoles send) and ``connect-get`` (HTTP GET for the
side-effect-free unary methods only) are variants of Connect that real clients use.
For the Connect flavours the wire is checked too (HTTP/1.1, content type, GET).

One module-scoped DevServer (sample tasks, tmp data dir) is shared; the fixture
``world`` creates the entities the calls need (finished runs of ``sample_tasks.add``
and ``sample_tasks.chatty``, a secret, a trigger, a project). Cases that mutate state
use names suffixed with the protocol, so the parametrizations never collide.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import grpc
import pytest
from flyteidl2.auth import auth_service_pb2, identity_pb2
from flyteidl2.cluster import payload_pb2 as cluster_pb2
from flyteidl2.common import identifier_pb2, list_pb2, phase_pb2
from flyteidl2.common import run_pb2 as common_run_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.secret import definition_pb2 as sdef
from flyteidl2.secret import payload_pb2 as spay
from flyteidl2.task import common_pb2 as tc
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.trigger import trigger_service_pb2 as tsvc
from flyteidl2.workflow import run_service_pb2 as rs

from . import _rpc_matrix as m
from .helpers import DOMAIN, PROJECT, Stubs, action_id, inputs, prim, run_id

pytestmark = pytest.mark.timeout(60)

P = phase_pb2
SCOPE = identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN)
ADD = "sample_tasks.add"
DONE_RUN = "rpc-done"  # add(x=2, y=3), SUCCEEDED
CHATTY_RUN = "rpc-chatty"  # chatty(lines=2), SUCCEEDED
SECRET = "rpc-secret"
TRIGGER = "rpc-trigger"
EXTRA_PROJECT = "rpc-proj"
MISSING = "nope-does-not-exist"


# ---------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------


@dataclass
class World:
    server: Any
    add_id: td.TaskIdentifier
    add_spec: td.TaskSpec
    trigger: identifier_pb2.TriggerName


def _trigger_name(name: str, task: str = ADD) -> identifier_pb2.TriggerName:
    return identifier_pb2.TriggerName(project=PROJECT, domain=DOMAIN, name=name, task_name=task)


def _daily() -> tc.TriggerAutomationSpec:
    return tc.TriggerAutomationSpec(type=tc.TYPE_SCHEDULE, schedule=tc.Schedule(
        rate=tc.FixedRate(value=1, unit=tc.FIXED_RATE_UNIT_DAY)))


def _trigger_spec(world: World, *, active: bool = False) -> tdef.TriggerSpec:
    return tdef.TriggerSpec(active=active, task_version=world.add_id.version, inputs=inputs(x=1, y=2))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from flyte_remote_core.devserver import DevServer

    from .conftest import SAMPLE_TASKS

    srv = DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path_factory.mktemp("every-rpc"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def world(server) -> World:
    """Entities the matrix needs, created once with plain (sync) gRPC stubs."""
    from flyteidl2.project import project_service_pb2_grpc
    from flyteidl2.secret import secret_pb2_grpc
    from flyteidl2.task import task_service_pb2_grpc
    from flyteidl2.trigger import trigger_service_pb2_grpc
    from flyteidl2.workflow import run_service_pb2_grpc

    with grpc.insecure_channel(server.endpoint) as ch:
        tasks = task_service_pb2_grpc.TaskServiceStub(ch)
        runs = run_service_pb2_grpc.RunServiceStub(ch)
        listed = tasks.ListTasks(ts.ListTasksRequest(project_id=SCOPE, request=list_pb2.ListRequest(
            limit=200, filters=[list_pb2.Filter(function=list_pb2.Filter.EQUAL, field="name", values=[ADD])])),
            timeout=10)
        add_id = listed.tasks[0].task_id
        add_spec = tasks.GetTaskDetails(ts.GetTaskDetailsRequest(task_id=add_id), timeout=10).details.spec
        chatty_id = next(t.task_id for t in tasks.ListTasks(ts.ListTasksRequest(
            project_id=SCOPE, request=list_pb2.ListRequest(limit=200)), timeout=10).tasks
            if t.task_id.name == "sample_tasks.chatty")
        runs.CreateRun(rs.CreateRunRequest(run_id=run_id(DONE_RUN), task_id=add_id, inputs=inputs(x=2, y=3)),
                       timeout=10)
        runs.CreateRun(rs.CreateRunRequest(run_id=run_id(CHATTY_RUN), task_id=chatty_id, inputs=inputs(lines=2)),
                       timeout=10)
        for name in (DONE_RUN, CHATTY_RUN):
            last = None
            for resp in runs.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id(name)), timeout=45):
                last = resp.details
            assert last is not None and last.status.phase == P.ACTION_PHASE_SUCCEEDED, (name, last)
        secret_pb2_grpc.SecretServiceStub(ch).CreateSecret(spay.CreateSecretRequest(
            id=sdef.SecretIdentifier(name=SECRET, project=PROJECT, domain=DOMAIN),
            secret_spec=sdef.SecretSpec(string_value="hunter2")), timeout=10)
        project_service_pb2_grpc.ProjectServiceStub(ch).CreateProject(pj.CreateProjectRequest(
            project=pj.Project(id=EXTRA_PROJECT, name="RPC matrix", description="original")), timeout=10)
        w = World(server=server, add_id=add_id, add_spec=add_spec, trigger=_trigger_name(TRIGGER))
        dep = trigger_service_pb2_grpc.TriggerServiceStub(ch).DeployTrigger(tsvc.DeployTriggerRequest(
            name=w.trigger, spec=_trigger_spec(w), automation_spec=_daily()), timeout=10)
        assert dep.trigger.id.revision == 1
    return w


@dataclass
class Env:
    """What a case gets: the caller under test, a gRPC setup channel, the fixtures."""

    protocol: str
    rpc: m.Caller
    setup: Stubs
    world: World

    @property
    def server(self):
        return self.world.server

    def name(self, base: str) -> str:
        return f"{base}-{self.protocol}"


ALL_PROTOCOLS = m.PROTOCOLS + m.CONNECT_VARIANTS


def _matrix(cases) -> list:
    """(protocol, case) params: every case over every protocol; "connect-get" only for
    side-effect-free unary methods (the ones Connect may send as HTTP GET)."""
    out = []
    for proto in ALL_PROTOCOLS:
        for c in cases:
            if proto == "connect-get" and not (c.service in m.SERVICES and m.is_side_effect_free(c.service, c.method)):
                continue
            marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if getattr(c, "xfail", "") else []
            out.append(pytest.param(proto, c, id=f"{proto}-{c.id}", marks=marks))
    return out


@pytest.fixture
async def env(protocol, world):
    caller = m.make_caller(protocol, world.server)
    channel = grpc.aio.insecure_channel(world.server.endpoint)
    try:
        yield Env(protocol, caller, Stubs(channel), world)
        if isinstance(caller, m.ConnectCaller):
            caller.assert_wire()  # Connect over HTTP/1.1, right codec, GET where asked
    finally:
        await caller.aclose()
        await channel.close()


async def _maybe(value):
    return await value if inspect.isawaitable(value) else value


# ---------------------------------------------------------------------------------------
# successful calls
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    service: str
    method: str
    request: Callable[[Env], Any]  # message, or awaitable message (may do setup first)
    check: Callable[[Env, Any], Any]  # response (or list of stream messages); may be async
    max_messages: int | None = None  # streams: read this many then close (None: until closed)
    label: str = ""
    xfail: str = field(default="", compare=False)  # "BUG: ..." (strict xfail)

    @property
    def id(self) -> str:
        return f"{self.service}.{self.method}" + (f"[{self.label}]" if self.label else "")


def _outputs(resp) -> dict:
    return {nl.name: prim(nl.value) for nl in resp.outputs.literals}


def _inputs(resp) -> dict:
    return {nl.name: prim(nl.value) for nl in resp.inputs.literals}


async def _held_run(env: Env, base: str) -> str:
    """A run of add that stays QUEUED (held by the admin API): something to abort."""
    name = env.name(base)
    env.server.admin.hold(name)
    await env.setup.run.CreateRun(rs.CreateRunRequest(
        run_id=run_id(name), task_id=env.world.add_id, inputs=inputs(x=1, y=1)), timeout=10)
    return name


# -- RunService ---------------------------------------------------------------------------


def _req_create_run(env: Env):
    return rs.CreateRunRequest(run_id=run_id(env.name("rpc-create")), task_id=env.world.add_id,
                               inputs=inputs(x=40, y=2))


async def _check_create_run(env: Env, resp):
    run = resp.run
    assert run.action.id.run == run_id(env.name("rpc-create"))
    assert run.action.id.name == "a0"
    assert run.action.metadata.task.id.name == ADD
    assert run.action.status.phase == P.ACTION_PHASE_QUEUED and run.action.status.attempts == 1  # REFERENCE 2b
    msgs = await env.rpc.call("RunService", "WatchActionDetails",
                              rs.WatchActionDetailsRequest(action_id=action_id(env.name("rpc-create"))), timeout=30)
    assert msgs[-1].details.status.phase == P.ACTION_PHASE_SUCCEEDED
    data = await env.rpc.call("DataProxyService", "GetActionData",
                              dp.GetActionDataRequest(action_id=action_id(env.name("rpc-create"))))
    assert _outputs(data) == {"o0": 42}


GENERATED_NAME = re.compile(r"^r[bcdfghjklmnpqrstvwxz2456789]{19}$")


def _check_create_run_generated(env: Env, resp):
    name = resp.run.action.id.run.name
    assert GENERATED_NAME.match(name), name
    assert resp.run.action.id.run.project == PROJECT and resp.run.action.id.run.domain == DOMAIN


async def _check_create_run_existing(env: Env, resp):
    # duplicate_run_names="return-existing" (the open-source backend): the existing run, unchanged.
    assert resp.run.action.id == action_id(DONE_RUN)
    assert resp.run.action.status.phase == P.ACTION_PHASE_SUCCEEDED
    data = await env.rpc.call("RunService", "GetActionData", rs.GetActionDataRequest(action_id=action_id(DONE_RUN)))
    assert _inputs(data) == {"x": 2, "y": 3} and _outputs(data) == {"o0": 5}


async def _req_create_run_offloaded(env: Env):
    up = await env.setup.dp.UploadInputs(dp.UploadInputsRequest(
        project_id=SCOPE, inputs=inputs(x=4, y=5)), timeout=10)
    return rs.CreateRunRequest(run_id=run_id(env.name("rpc-offload")), task_id=env.world.add_id,
                               offloaded_input_data=up.offloaded_input_data)


async def _check_create_run_offloaded(env: Env, resp):
    aid = action_id(env.name("rpc-offload"))
    assert resp.run.action.id == aid
    msgs = await env.rpc.call("RunService", "WatchActionDetails", rs.WatchActionDetailsRequest(action_id=aid),
                              timeout=30)
    assert msgs[-1].details.status.phase == P.ACTION_PHASE_SUCCEEDED
    data = await env.rpc.call("RunService", "GetActionData", rs.GetActionDataRequest(action_id=aid))
    assert _inputs(data) == {"x": 4, "y": 5} and _outputs(data) == {"o0": 9}


def _name30(env: Env) -> str:
    return f"len30-{env.protocol}".ljust(30, "0")


def _check_create_run_30(env: Env, resp):
    assert len(_name30(env)) == 30 and resp.run.action.id.run.name == _name30(env)


async def _req_abort_run_default(env: Env):
    return rs.AbortRunRequest(run_id=run_id(await _held_run(env, "rpc-abort-dflt")))


async def _check_abort_run_default(env: Env, resp):
    got = await env.rpc.call("RunService", "GetRunDetails",
                             rs.GetRunDetailsRequest(run_id=run_id(env.name("rpc-abort-dflt"))))
    assert got.details.action.status.phase == P.ACTION_PHASE_ABORTED
    assert got.details.action.abort_info.reason == "User requested abort"  # REFERENCE 2b default


async def _check_list_runs_paged(env: Env, resp):
    assert len(resp.runs) == 1 and resp.token == "1"  # the token is a decimal offset
    nxt = await env.rpc.call("RunService", "ListRuns", rs.ListRunsRequest(
        project_id=SCOPE, request=list_pb2.ListRequest(limit=1, token=resp.token)))
    assert len(nxt.runs) == 1 and nxt.runs[0].action.id != resp.runs[0].action.id
    assert nxt.token in ("2", "")


async def _req_abort_run(env: Env):
    name = await _held_run(env, "rpc-abort-run")
    return rs.AbortRunRequest(run_id=run_id(name), reason="matrix abort")


async def _check_abort_run(env: Env, resp):
    assert resp == rs.AbortRunResponse()
    got = await env.rpc.call("RunService", "GetRunDetails",
                             rs.GetRunDetailsRequest(run_id=run_id(env.name("rpc-abort-run"))))
    assert got.details.action.status.phase == P.ACTION_PHASE_ABORTED
    assert got.details.action.abort_info.reason == "matrix abort"


async def _req_abort_action(env: Env):
    name = await _held_run(env, "rpc-abort-action")
    return rs.AbortActionRequest(action_id=action_id(name), reason="matrix abort action")


async def _check_abort_action(env: Env, resp):
    assert resp == rs.AbortActionResponse()
    got = await env.rpc.call("RunService", "GetActionDetails",
                             rs.GetActionDetailsRequest(action_id=action_id(env.name("rpc-abort-action"))))
    assert got.details.status.phase == P.ACTION_PHASE_ABORTED
    assert got.details.abort_info.reason == "matrix abort action"


def _check_run_details(env: Env, resp):
    d = resp.details
    assert d.action.id == action_id(DONE_RUN)
    assert d.action.status.phase == P.ACTION_PHASE_SUCCEEDED
    assert d.action.metadata.task.id.name == ADD


def _check_action_details(env: Env, resp):
    d = resp.details
    assert d.id == action_id(DONE_RUN)
    assert d.status.phase == P.ACTION_PHASE_SUCCEEDED and d.status.attempts >= 1


def _check_list_runs(env: Env, resp):
    names = [r.action.id.run.name for r in resp.runs]
    assert DONE_RUN in names and CHATTY_RUN in names
    assert all(r.action.id.run.project == PROJECT for r in resp.runs)


def _check_watch_runs(env: Env, msgs):
    assert len(msgs) == 1
    names = {r.action.id.run.name for r in msgs[0].runs}
    assert {DONE_RUN, CHATTY_RUN} <= names


def _check_list_actions(env: Env, resp):
    assert [(a.id.name, a.status.phase) for a in resp.actions] == [("a0", P.ACTION_PHASE_SUCCEEDED)]


def _check_watch_actions(env: Env, msgs):
    assert msgs, "WatchActions sent nothing"
    first = msgs[0].enriched_actions
    assert [(e.action.id.name, e.action.status.phase) for e in first] == [("a0", P.ACTION_PHASE_SUCCEEDED)]


def _check_watch_run_details(env: Env, msgs):
    assert len(msgs) == 1
    assert msgs[0].details.action.id == action_id(DONE_RUN)
    assert msgs[0].details.action.status.phase == P.ACTION_PHASE_SUCCEEDED


def _check_watch_action_details(env: Env, msgs):
    assert len(msgs) == 1
    assert msgs[0].details.id == action_id(DONE_RUN)
    assert msgs[0].details.status.phase == P.ACTION_PHASE_SUCCEEDED


def _check_data_uris(env: Env, resp):
    assert resp.inputs_uri and resp.outputs_uri and resp.inputs_uri != resp.outputs_uri
    for uri in (resp.inputs_uri, resp.outputs_uri):
        assert uri.startswith("file://"), uri


def _check_run_action_data(env: Env, resp):
    assert _inputs(resp) == {"x": 2, "y": 3}
    assert _outputs(resp) == {"o0": 5}


# -- TaskService --------------------------------------------------------------------------


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


# -- DataProxyService -----------------------------------------------------------------------

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
    assert _inputs(resp) == {"x": 2, "y": 3}
    assert _outputs(resp) == {"o0": 5}
    assert resp.inputs_uri.startswith("file://") and resp.outputs_uri.startswith("file://")


def _check_tail_logs(env: Env, msgs):
    text = "\n".join(ln.message for r in msgs for logs in r.logs for ln in logs.lines)
    for i in range(2):
        assert f"stdout line {i}" in text and f"stderr line {i}" in text, text


# -- ProjectService -------------------------------------------------------------------------


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


# -- SecretService --------------------------------------------------------------------------


def _sid(name: str) -> sdef.SecretIdentifier:
    return sdef.SecretIdentifier(name=name, project=PROJECT, domain=DOMAIN)


async def _make_secret(env: Env, base: str) -> str:
    name = env.name(base)
    await env.setup.secret.CreateSecret(spay.CreateSecretRequest(
        id=_sid(name), secret_spec=sdef.SecretSpec(string_value="v1")), timeout=10)
    return name


async def _check_create_secret(env: Env, resp):
    assert resp == spay.CreateSecretResponse()
    got = await env.rpc.call("SecretService", "GetSecret", spay.GetSecretRequest(id=_sid(env.name("rpc-new"))))
    assert got.secret.id.name == env.name("rpc-new")
    assert b"brand-new" not in got.SerializeToString()


async def _req_update_secret(env: Env):
    name = await _make_secret(env, "rpc-upd")
    return spay.UpdateSecretRequest(id=_sid(name), secret_spec=sdef.SecretSpec(
        string_value="v2", type=sdef.SECRET_TYPE_IMAGE_PULL_SECRET))


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


# -- TriggerService -------------------------------------------------------------------------


async def _make_trigger(env: Env, base: str, *, active: bool = False) -> identifier_pb2.TriggerName:
    name = _trigger_name(env.name(base))
    await env.setup.trigger.DeployTrigger(tsvc.DeployTriggerRequest(
        name=name, spec=_trigger_spec(env.world, active=active), automation_spec=_daily()), timeout=10)
    return name


def _req_deploy_trigger(env: Env):
    return tsvc.DeployTriggerRequest(name=_trigger_name(env.name("rpc-deployed")), spec=_trigger_spec(env.world),
                                     automation_spec=_daily())


def _check_deploy_trigger(env: Env, resp):
    t = resp.trigger
    assert t.id.name == _trigger_name(env.name("rpc-deployed")) and t.id.revision == 1
    assert t.automation_spec.schedule.rate.unit == tc.FIXED_RATE_UNIT_DAY
    assert t.spec.task_version == env.world.add_id.version


def _check_trigger_details(env: Env, resp):
    assert resp.trigger.id.name == env.world.trigger
    assert resp.trigger.automation_spec.schedule.rate.value == 1
    assert [nl.name for nl in resp.trigger.spec.inputs.literals] == ["x", "y"]


def _check_trigger_revision(env: Env, resp):
    assert resp.trigger.id.name == env.world.trigger and resp.trigger.id.revision == 1


async def _req_trigger_old_revision(env: Env):
    name = await _make_trigger(env, "rpc-revs")  # revision 1: inactive
    await env.setup.trigger.UpdateTriggers(tsvc.UpdateTriggersRequest(names=[name], active=True), timeout=10)  # 2
    hist = await env.setup.trigger.GetTriggerRevisionHistory(tsvc.GetTriggerRevisionHistoryRequest(name=name))
    assert [t.id.revision for t in hist.triggers] == [2, 1]  # revision 1 is advertised...
    return tsvc.GetTriggerRevisionDetailsRequest(id=identifier_pb2.TriggerIdentifier(name=name, revision=1))


def _check_trigger_old_revision(env: Env, resp):
    # ...so its details must be retrievable, as they were at revision 1 (inactive).
    assert resp.trigger.id.revision == 1 and not resp.trigger.spec.active


def _check_list_triggers(env: Env, resp):
    mine = [t for t in resp.triggers if t.id.name.name == TRIGGER]
    assert len(mine) == 1 and not mine[0].active


def _check_revision_history(env: Env, resp):
    assert [(t.id.revision, t.action) for t in resp.triggers] == [(1, tdef.TRIGGER_REVISION_ACTION_DEPLOY)]


async def _req_update_triggers(env: Env):
    return tsvc.UpdateTriggersRequest(names=[await _make_trigger(env, "rpc-upd", active=True)], active=False)


async def _check_update_triggers(env: Env, resp):
    assert resp == tsvc.UpdateTriggersResponse()
    got = await env.rpc.call("TriggerService", "GetTriggerDetails",
                             tsvc.GetTriggerDetailsRequest(name=_trigger_name(env.name("rpc-upd"))))
    assert not got.trigger.spec.active and got.trigger.id.revision == 2


async def _req_delete_triggers(env: Env):
    return tsvc.DeleteTriggersRequest(names=[await _make_trigger(env, "rpc-del")])


async def _check_delete_triggers(env: Env, resp):
    assert resp == tsvc.DeleteTriggersResponse()
    with pytest.raises(m.RPC_ERRORS) as e:
        await env.rpc.call("TriggerService", "GetTriggerDetails",
                           tsvc.GetTriggerDetailsRequest(name=_trigger_name(env.name("rpc-del"))))
    assert m.code_name(e.value) == "NOT_FOUND"


# -- the table ------------------------------------------------------------------------------

OK_CASES: list[Ok] = [
    # RunService
    Ok("RunService", "CreateRun", _req_create_run, _check_create_run),
    Ok("RunService", "CreateRun", lambda e: rs.CreateRunRequest(project_id=SCOPE, task_id=e.world.add_id,
                                                                inputs=inputs(x=1, y=1)),
       _check_create_run_generated, label="generated-name"),
    Ok("RunService", "CreateRun", lambda e: rs.CreateRunRequest(run_id=run_id(DONE_RUN), task_id=e.world.add_id,
                                                                inputs=inputs(x=100, y=100)),
       _check_create_run_existing, label="existing-name"),
    Ok("RunService", "CreateRun", _req_create_run_offloaded, _check_create_run_offloaded, label="offloaded-inputs"),
    Ok("RunService", "CreateRun", lambda e: rs.CreateRunRequest(run_id=run_id(_name30(e)), task_id=e.world.add_id,
                                                                inputs=inputs(x=1, y=1)),
       _check_create_run_30, label="30-char-name"),
    Ok("RunService", "AbortRun", _req_abort_run, _check_abort_run),
    Ok("RunService", "AbortRun", _req_abort_run_default, _check_abort_run_default, label="default-reason"),
    Ok("RunService", "GetRunDetails", lambda e: rs.GetRunDetailsRequest(run_id=run_id(DONE_RUN)), _check_run_details),
    Ok("RunService", "WatchRunDetails", lambda e: rs.WatchRunDetailsRequest(run_id=run_id(DONE_RUN)),
       _check_watch_run_details, max_messages=1),
    Ok("RunService", "GetActionDetails", lambda e: rs.GetActionDetailsRequest(action_id=action_id(DONE_RUN)),
       _check_action_details),
    Ok("RunService", "WatchActionDetails", lambda e: rs.WatchActionDetailsRequest(action_id=action_id(DONE_RUN)),
       _check_watch_action_details, max_messages=1),
    Ok("RunService", "AbortAction", _req_abort_action, _check_abort_action),
    Ok("RunService", "ListRuns", lambda e: rs.ListRunsRequest(project_id=SCOPE), _check_list_runs),
    Ok("RunService", "ListRuns", lambda e: rs.ListRunsRequest(project_id=SCOPE, request=list_pb2.ListRequest(limit=1)),
       _check_list_runs_paged, label="paged"),
    Ok("RunService", "WatchRuns", lambda e: rs.WatchRunsRequest(project_id=SCOPE), _check_watch_runs,
       max_messages=1),
    Ok("RunService", "ListActions", lambda e: rs.ListActionsRequest(run_id=run_id(DONE_RUN)), _check_list_actions),
    Ok("RunService", "WatchActions", lambda e: rs.WatchActionsRequest(run_id=run_id(DONE_RUN)),
       _check_watch_actions, max_messages=1),
    Ok("RunService", "GetActionDataURIs", lambda e: rs.GetActionDataURIsRequest(action_id=action_id(DONE_RUN)),
       _check_data_uris),
    # Not in the brief's list, but implemented by the devserver (and by the real backend).
    Ok("RunService", "GetActionData", lambda e: rs.GetActionDataRequest(action_id=action_id(DONE_RUN)),
       _check_run_action_data),
    # TaskService
    Ok("TaskService", "DeployTask", _req_deploy_task, _check_deploy_task),
    Ok("TaskService", "GetTaskDetails", lambda e: ts.GetTaskDetailsRequest(task_id=e.world.add_id),
       _check_task_details),
    Ok("TaskService", "ListTasks", lambda e: ts.ListTasksRequest(
        project_id=SCOPE, request=list_pb2.ListRequest(limit=200)), _check_list_tasks),
    Ok("TaskService", "ListVersions", lambda e: ts.ListVersionsRequest(
        task_name=td.TaskName(project=PROJECT, domain=DOMAIN, name=ADD)), _check_list_versions),
    # DataProxyService
    Ok("DataProxyService", "CreateUploadLocation", lambda e: dp.CreateUploadLocationRequest(
        project=PROJECT, domain=DOMAIN, filename="hello.txt", content_md5=hashlib.md5(_UPLOAD_BODY).digest()),
       _check_upload_location),
    Ok("DataProxyService", "UploadInputs", _req_upload_inputs, _check_upload_inputs),
    Ok("DataProxyService", "GetActionData", lambda e: dp.GetActionDataRequest(action_id=action_id(DONE_RUN)),
       _check_dp_action_data),
    Ok("DataProxyService", "TailLogs", lambda e: dp.TailLogsRequest(action_id=action_id(CHATTY_RUN)),
       _check_tail_logs),
    # ClusterService
    Ok("ClusterService", "SelectCluster", lambda e: cluster_pb2.SelectClusterRequest(
        operation=cluster_pb2.SelectClusterRequest.OPERATION_UPLOAD_INPUTS),
       lambda e, r: (r.cluster == "devserver" and r.cluster_endpoint == "") or pytest.fail(str(r))),
    # ProjectService
    Ok("ProjectService", "CreateProject", lambda e: pj.CreateProjectRequest(
        project=pj.Project(id=e.name("rpc-newproj"), name="New")), _check_create_project),
    Ok("ProjectService", "GetProject", lambda e: pj.GetProjectRequest(id=PROJECT), _check_get_project),
    Ok("ProjectService", "ListProjects", lambda e: pj.ListProjectsRequest(), _check_list_projects),
    Ok("ProjectService", "UpdateProject", lambda e: pj.UpdateProjectRequest(project=pj.Project(
        id=EXTRA_PROJECT, name="RPC matrix", description=e.name("updated"))), _check_update_project),
    # SecretService
    Ok("SecretService", "CreateSecret", lambda e: spay.CreateSecretRequest(
        id=_sid(e.name("rpc-new")), secret_spec=sdef.SecretSpec(string_value="brand-new")), _check_create_secret),
    Ok("SecretService", "UpdateSecret", _req_update_secret, _check_update_secret),
    Ok("SecretService", "GetSecret", lambda e: spay.GetSecretRequest(id=_sid(SECRET)), _check_get_secret),
    Ok("SecretService", "DeleteSecret", _req_delete_secret, _check_delete_secret),
    Ok("SecretService", "ListSecrets", lambda e: spay.ListSecretsRequest(project=PROJECT, domain=DOMAIN),
       _check_list_secrets),
    # TriggerService
    Ok("TriggerService", "DeployTrigger", _req_deploy_trigger, _check_deploy_trigger),
    Ok("TriggerService", "GetTriggerDetails", lambda e: tsvc.GetTriggerDetailsRequest(name=e.world.trigger),
       _check_trigger_details),
    Ok("TriggerService", "GetTriggerRevisionDetails", lambda e: tsvc.GetTriggerRevisionDetailsRequest(
        id=identifier_pb2.TriggerIdentifier(name=e.world.trigger, revision=1)), _check_trigger_revision),
    Ok("TriggerService", "GetTriggerRevisionDetails", _req_trigger_old_revision, _check_trigger_old_revision,
       label="older-revision"),
    Ok("TriggerService", "ListTriggers", lambda e: tsvc.ListTriggersRequest(project_id=SCOPE), _check_list_triggers),
    Ok("TriggerService", "GetTriggerRevisionHistory", lambda e: tsvc.GetTriggerRevisionHistoryRequest(
        name=e.world.trigger), _check_revision_history),
    Ok("TriggerService", "UpdateTriggers", _req_update_triggers, _check_update_triggers),
    Ok("TriggerService", "DeleteTriggers", _req_delete_triggers, _check_delete_triggers),
    # IdentityService, AuthMetadataService
    Ok("IdentityService", "UserInfo", lambda e: identity_pb2.UserInfoRequest(),
       lambda e, r: (r.subject == "local" and r.email == "local@localhost") or pytest.fail(str(r))),
    Ok("AuthMetadataService", "GetOAuth2Metadata", lambda e: auth_service_pb2.GetOAuth2MetadataRequest(),
       lambda e, r: (r.issuer == e.server.url and r.token_endpoint == f"{e.server.url}/oauth2/token")
       or pytest.fail(str(r))),
    Ok("AuthMetadataService", "GetPublicClientConfig", lambda e: auth_service_pb2.GetPublicClientConfigRequest(),
       lambda e, r: (r.authorization_metadata_key == "authorization" and r.client_id) or pytest.fail(str(r))),
]

# RPCs the brief requires (plus RunService.GetActionData); the table must cover them all.
REQUIRED = {
    "RunService": ["CreateRun", "AbortRun", "GetRunDetails", "WatchRunDetails", "GetActionDetails",
                   "WatchActionDetails", "AbortAction", "ListRuns", "WatchRuns", "ListActions", "WatchActions",
                   "GetActionDataURIs", "GetActionData"],
    "TaskService": ["DeployTask", "GetTaskDetails", "ListTasks", "ListVersions"],
    "DataProxyService": ["CreateUploadLocation", "UploadInputs", "GetActionData", "TailLogs"],
    "ClusterService": ["SelectCluster"],
    "ProjectService": ["CreateProject", "GetProject", "ListProjects", "UpdateProject"],
    "SecretService": ["CreateSecret", "UpdateSecret", "GetSecret", "DeleteSecret", "ListSecrets"],
    "TriggerService": m.all_methods("TriggerService"),
    "IdentityService": ["UserInfo"],
    "AuthMetadataService": ["GetOAuth2Metadata", "GetPublicClientConfig"],
}


def test_ok_table_covers_every_served_rpc():
    covered = {(c.service, c.method) for c in OK_CASES}
    required = {(s, meth) for s, ms in REQUIRED.items() for meth in ms}
    assert required - covered == set()
    assert covered - required == set()
    # Every method of a served service is either in the OK table or in the UNIMPLEMENTED table.
    unimpl = {(c.service, c.method) for c in UNIMPLEMENTED_CASES if c.service in m.SERVICES}
    for service in m.SERVICES:
        for meth in m.all_methods(service):
            assert ((service, meth) in covered) != ((service, meth) in unimpl), (service, meth)


@pytest.mark.parametrize(("protocol", "case"), _matrix(OK_CASES))
async def test_rpc_ok(env: Env, case: Ok):
    request = await _maybe(case.request(env))
    resp = await env.rpc.call(case.service, case.method, request, max_messages=case.max_messages, timeout=30)
    await _maybe(case.check(env, resp))


# ---------------------------------------------------------------------------------------
# error codes (the same over both protocols)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Err:
    service: str
    method: str
    request: Callable[[Env], Any]
    code: str  # grpc.StatusCode / connectrpc Code name
    label: str = ""
    xfail: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        return f"{self.service}.{self.method}[{self.label or self.code.lower()}]"


def _missing_run():
    return run_id(MISSING)


def _missing_action():
    return action_id(MISSING)


def _missing_trigger():
    return _trigger_name(MISSING)


ERROR_CASES: list[Err] = [
    # RunService
    Err("RunService", "CreateRun", lambda e: rs.CreateRunRequest(
        run_id=run_id("Bad_Name!"), task_id=e.world.add_id, inputs=inputs(x=1, y=1)), "INVALID_ARGUMENT",
        "bad-run-name"),
    Err("RunService", "CreateRun", lambda e: rs.CreateRunRequest(
        run_id=run_id("x" * 31), task_id=e.world.add_id, inputs=inputs(x=1, y=1)), "INVALID_ARGUMENT",
        "run-name-too-long"),
    *[Err("RunService", "CreateRun", lambda e, n=n: rs.CreateRunRequest(
        run_id=run_id(n), task_id=e.world.add_id, inputs=inputs(x=1, y=1)), "INVALID_ARGUMENT", f"run-name-{label}")
      for label, n in (("leading-digit", "1abc"), ("trailing-hyphen", "abc-"), ("upper-case", "Abc"),
                       ("dot", "a.b"))],
    Err("RunService", "CreateRun", lambda e: rs.CreateRunRequest(
        run_id=identifier_pb2.RunIdentifier(project=MISSING, domain=DOMAIN, name="r1"), task_id=e.world.add_id,
        inputs=inputs(x=1, y=1)), "NOT_FOUND", "missing-project"),
    Err("RunService", "CreateRun", lambda e: rs.CreateRunRequest(
        run_id=identifier_pb2.RunIdentifier(project=PROJECT, domain="no-such-domain", name="r1"),
        task_id=e.world.add_id, inputs=inputs(x=1, y=1)), "NOT_FOUND", "missing-domain"),
    Err("RunService", "CreateRun", lambda e: rs.CreateRunRequest(
        run_id=run_id("empty-offload"), task_id=e.world.add_id,
        offloaded_input_data=common_run_pb2.OffloadedInputData(inputs_hash="abc")),
        "INVALID_ARGUMENT", "empty-offloaded-uri"),
    Err("RunService", "CreateRun", lambda e: rs.CreateRunRequest(
        run_id=run_id("unknown-task-run"), task_id=td.TaskIdentifier(
            project=PROJECT, domain=DOMAIN, name="sample_tasks.nope", version="v"), inputs=inputs()),
        "NOT_FOUND", "unknown-task"),
    Err("RunService", "AbortRun", lambda e: rs.AbortRunRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "GetRunDetails", lambda e: rs.GetRunDetailsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "WatchRunDetails", lambda e: rs.WatchRunDetailsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "GetActionDetails", lambda e: rs.GetActionDetailsRequest(action_id=_missing_action()),
        "NOT_FOUND"),
    Err("RunService", "GetActionDetails", lambda e: rs.GetActionDetailsRequest(
        action_id=action_id(DONE_RUN, "a99")), "NOT_FOUND", "unknown-action-of-known-run"),
    Err("RunService", "WatchActionDetails", lambda e: rs.WatchActionDetailsRequest(action_id=_missing_action()),
        "NOT_FOUND"),
    Err("RunService", "AbortAction", lambda e: rs.AbortActionRequest(action_id=_missing_action()), "NOT_FOUND"),
    Err("RunService", "ListRuns", lambda e: rs.ListRunsRequest(project_id=SCOPE, request=list_pb2.ListRequest(
        filters=[list_pb2.Filter(function=list_pb2.Filter.EQUAL, field="phase", values=["bogus"])])),
        "INVALID_ARGUMENT", "unknown-phase-filter"),
    Err("RunService", "WatchRuns", lambda e: rs.WatchRunsRequest(
        project_id=identifier_pb2.ProjectIdentifier(name=MISSING, domain=DOMAIN)), "NOT_FOUND", "missing-project"),
    Err("RunService", "ListActions", lambda e: rs.ListActionsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "WatchActions", lambda e: rs.WatchActionsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "GetActionDataURIs", lambda e: rs.GetActionDataURIsRequest(action_id=_missing_action()),
        "NOT_FOUND"),
    Err("RunService", "GetActionData", lambda e: rs.GetActionDataRequest(action_id=_missing_action()), "NOT_FOUND"),
    # TaskService
    Err("TaskService", "DeployTask", lambda e: ts.DeployTaskRequest(task_id=td.TaskIdentifier(
        project=MISSING, domain=DOMAIN, name="x", version="1"), spec=e.world.add_spec), "NOT_FOUND",
        "missing-project"),
    Err("TaskService", "DeployTask", lambda e: ts.DeployTaskRequest(task_id=td.TaskIdentifier(
        name="x", version="1"), spec=e.world.add_spec), "INVALID_ARGUMENT", "no-project"),
    Err("TaskService", "GetTaskDetails", lambda e: ts.GetTaskDetailsRequest(task_id=td.TaskIdentifier(
        project=PROJECT, domain=DOMAIN, name=ADD, version="no-such-version")), "NOT_FOUND", "unknown-version"),
    Err("TaskService", "GetTaskDetails", lambda e: ts.GetTaskDetailsRequest(task_id=td.TaskIdentifier(
        project=PROJECT, domain=DOMAIN, name=ADD)), "NOT_FOUND", "no-version"),
    Err("TaskService", "ListVersions", lambda e: ts.ListVersionsRequest(task_name=td.TaskName(
        project=PROJECT, domain=DOMAIN, name="sample_tasks.nope")), "NOT_FOUND"),
    # DataProxyService
    Err("DataProxyService", "CreateUploadLocation", lambda e: dp.CreateUploadLocationRequest(
        project=PROJECT, domain=DOMAIN), "INVALID_ARGUMENT", "no-filename"),
    Err("DataProxyService", "CreateUploadLocation", lambda e: dp.CreateUploadLocationRequest(
        project=MISSING, domain=DOMAIN, filename="f.txt"), "NOT_FOUND", "missing-project"),
    Err("DataProxyService", "UploadInputs", lambda e: dp.UploadInputsRequest(inputs=inputs(x=1)),
        "INVALID_ARGUMENT", "no-scope"),
    Err("DataProxyService", "UploadInputs", lambda e: dp.UploadInputsRequest(
        project_id=identifier_pb2.ProjectIdentifier(name=MISSING, domain=DOMAIN), inputs=inputs(x=1)),
        "NOT_FOUND", "missing-project"),
    Err("DataProxyService", "GetActionData", lambda e: dp.GetActionDataRequest(action_id=_missing_action()),
        "NOT_FOUND"),
    Err("DataProxyService", "TailLogs", lambda e: dp.TailLogsRequest(action_id=_missing_action()), "NOT_FOUND"),
    Err("DataProxyService", "TailLogs", lambda e: dp.TailLogsRequest(action_id=action_id(CHATTY_RUN), attempt=9),
        "NOT_FOUND", "unknown-attempt"),
    # ProjectService
    Err("ProjectService", "CreateProject", lambda e: pj.CreateProjectRequest(project=pj.Project(id=PROJECT)),
        "ALREADY_EXISTS"),
    Err("ProjectService", "CreateProject", lambda e: pj.CreateProjectRequest(project=pj.Project(name="no id")),
        "INVALID_ARGUMENT", "no-id"),
    Err("ProjectService", "GetProject", lambda e: pj.GetProjectRequest(id=MISSING), "NOT_FOUND"),
    Err("ProjectService", "UpdateProject", lambda e: pj.UpdateProjectRequest(project=pj.Project(id=MISSING)),
        "NOT_FOUND"),
    # SecretService
    Err("SecretService", "CreateSecret", lambda e: spay.CreateSecretRequest(
        id=_sid(SECRET), secret_spec=sdef.SecretSpec(string_value="x")), "ALREADY_EXISTS"),
    Err("SecretService", "CreateSecret", lambda e: spay.CreateSecretRequest(id=_sid("rpc-novalue")),
        "INVALID_ARGUMENT", "no-value"),
    Err("SecretService", "CreateSecret", lambda e: spay.CreateSecretRequest(
        id=sdef.SecretIdentifier(project=PROJECT, domain=DOMAIN), secret_spec=sdef.SecretSpec(string_value="x")),
        "INVALID_ARGUMENT", "no-name"),
    Err("SecretService", "UpdateSecret", lambda e: spay.UpdateSecretRequest(
        id=_sid(MISSING), secret_spec=sdef.SecretSpec(string_value="x")), "NOT_FOUND"),
    Err("SecretService", "GetSecret", lambda e: spay.GetSecretRequest(id=_sid(MISSING)), "NOT_FOUND"),
    Err("SecretService", "DeleteSecret", lambda e: spay.DeleteSecretRequest(id=_sid(MISSING)), "NOT_FOUND"),
    # TriggerService
    Err("TriggerService", "DeployTrigger", lambda e: tsvc.DeployTriggerRequest(
        name=_trigger_name("rpc-t", task="sample_tasks.nope"), spec=_trigger_spec(e.world),
        automation_spec=_daily()), "NOT_FOUND", "unknown-task"),
    Err("TriggerService", "DeployTrigger", lambda e: tsvc.DeployTriggerRequest(
        name=_trigger_name("rpc-badcron"), spec=_trigger_spec(e.world),
        automation_spec=tc.TriggerAutomationSpec(type=tc.TYPE_SCHEDULE, schedule=tc.Schedule(
            cron_expression="not a cron"))), "INVALID_ARGUMENT", "bad-cron"),
    Err("TriggerService", "DeployTrigger", lambda e: tsvc.DeployTriggerRequest(
        name=e.world.trigger, revision=99, spec=_trigger_spec(e.world), automation_spec=_daily()),
        "ABORTED", "stale-revision"),
    Err("TriggerService", "GetTriggerDetails", lambda e: tsvc.GetTriggerDetailsRequest(name=_missing_trigger()),
        "NOT_FOUND"),
    Err("TriggerService", "GetTriggerRevisionDetails", lambda e: tsvc.GetTriggerRevisionDetailsRequest(
        id=identifier_pb2.TriggerIdentifier(name=e.world.trigger, revision=42)), "NOT_FOUND", "unknown-revision"),
    Err("TriggerService", "GetTriggerRevisionHistory", lambda e: tsvc.GetTriggerRevisionHistoryRequest(
        name=_missing_trigger()), "NOT_FOUND"),
    Err("TriggerService", "UpdateTriggers", lambda e: tsvc.UpdateTriggersRequest(
        names=[_missing_trigger()], active=True), "NOT_FOUND"),
    Err("TriggerService", "DeleteTriggers", lambda e: tsvc.DeleteTriggersRequest(names=[_missing_trigger()]),
        "NOT_FOUND"),
]


@pytest.mark.parametrize(("protocol", "case"), _matrix(ERROR_CASES))
async def test_rpc_error_code(env: Env, case: Err):
    request = await _maybe(case.request(env))
    with pytest.raises(m.RPC_ERRORS) as e:
        await env.rpc.call(case.service, case.method, request, max_messages=1, timeout=15)
    assert m.code_name(e.value) == case.code, (env.protocol, m.code_name(e.value), m.error_message(e.value))


# ---------------------------------------------------------------------------------------
# UNIMPLEMENTED
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unimpl:
    service: str  # a key of m.SERVICES, or a full service name for raw calls
    method: str
    stream: bool = False  # raw calls only: call as server-streaming

    @property
    def id(self) -> str:
        return f"{self.service}.{self.method}" + ("[stream]" if self.stream else "")


UNIMPLEMENTED_CASES: list[Unimpl] = [
    Unimpl("RunService", "GetActionLogContext"),
    Unimpl("RunService", "WatchClusterEvents"),
    Unimpl("RunService", "SignalEvent"),
    Unimpl("RunService", "WatchGroups"),
    Unimpl("DataProxyService", "CreateDownloadLink"),
    # raw paths (no generated client method): an unknown method of a served service, an
    # unknown service, and a real flyteidl2 service the devserver does not serve
    Unimpl("flyteidl2.workflow.RunService", "NoSuchMethod"),
    Unimpl("flyteidl2.workflow.RunService", "NoSuchMethod", stream=True),
    Unimpl("no.such.Service", "Call"),
    Unimpl("no.such.Service", "Call", stream=True),
    Unimpl("flyteidl2.workflow.InternalRunService", "RecordAction"),
]


async def _call_unimplemented(env: Env, case: Unimpl):
    if case.service in m.SERVICES:
        from google.protobuf import message_factory

        request = message_factory.GetMessageClass(m.method_descriptor(case.service, case.method).input_type)()
        return await env.rpc.call(case.service, case.method, request, max_messages=1, timeout=10)
    if case.stream:
        return await env.rpc.raw_stream(case.service, case.method)
    return await env.rpc.raw_unary(case.service, case.method)


@pytest.mark.parametrize(("protocol", "case"), _matrix(UNIMPLEMENTED_CASES))
async def test_rpc_unimplemented(env: Env, case: Unimpl):
    with pytest.raises(m.RPC_ERRORS) as e:
        await asyncio.wait_for(_call_unimplemented(env, case), 20)
    assert m.code_name(e.value) == "UNIMPLEMENTED", (env.protocol, m.code_name(e.value), m.error_message(e.value))
