"""Fixtures of the every-RPC matrix: one DevServer for the folder, its ``world``, and ``env``."""

from __future__ import annotations

import grpc
import pytest
from flyteidl2.common import list_pb2
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.secret import definition_pb2 as sdef
from flyteidl2.secret import payload_pb2 as spay
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.trigger import trigger_service_pb2 as tsvc
from flyteidl2.workflow import run_service_pb2 as rs

from ...helpers import DOMAIN, PROJECT, Stubs, action_id, inputs, run_id
from . import rpc_matrix as m
from .cases import ADD, CHATTY_RUN, DONE_RUN, EXTRA_PROJECT, SCOPE, SECRET, TRIGGER, Env, P, World, daily, trigger_name
from .cases import trigger_spec as _trigger_spec


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    from flyte_remote_core.devserver import DevServer

    from ...conftest import SAMPLE_TASKS

    srv = DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path_factory.mktemp("every-rpc"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="package")
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
        listed = tasks.ListTasks(
            ts.ListTasksRequest(
                project_id=SCOPE,
                request=list_pb2.ListRequest(
                    limit=200, filters=[list_pb2.Filter(function=list_pb2.Filter.EQUAL, field="name", values=[ADD])]
                ),
            ),
            timeout=10,
        )
        add_id = listed.tasks[0].task_id
        add_spec = tasks.GetTaskDetails(ts.GetTaskDetailsRequest(task_id=add_id), timeout=10).details.spec
        chatty_id = next(
            t.task_id
            for t in tasks.ListTasks(
                ts.ListTasksRequest(project_id=SCOPE, request=list_pb2.ListRequest(limit=200)), timeout=10
            ).tasks
            if t.task_id.name == "sample_tasks.chatty"
        )
        runs.CreateRun(
            rs.CreateRunRequest(run_id=run_id(DONE_RUN), task_id=add_id, inputs=inputs(x=2, y=3)), timeout=10
        )
        runs.CreateRun(
            rs.CreateRunRequest(run_id=run_id(CHATTY_RUN), task_id=chatty_id, inputs=inputs(lines=2)), timeout=10
        )
        for name in (DONE_RUN, CHATTY_RUN):
            last = None
            for resp in runs.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id(name)), timeout=45):
                last = resp.details
            assert last is not None and last.status.phase == P.ACTION_PHASE_SUCCEEDED, (name, last)
        secret_pb2_grpc.SecretServiceStub(ch).CreateSecret(
            spay.CreateSecretRequest(
                id=sdef.SecretIdentifier(name=SECRET, project=PROJECT, domain=DOMAIN),
                secret_spec=sdef.SecretSpec(string_value="hunter2"),
            ),
            timeout=10,
        )
        project_service_pb2_grpc.ProjectServiceStub(ch).CreateProject(
            pj.CreateProjectRequest(project=pj.Project(id=EXTRA_PROJECT, name="RPC matrix", description="original")),
            timeout=10,
        )
        w = World(server=server, add_id=add_id, add_spec=add_spec, trigger=trigger_name(TRIGGER))
        dep = trigger_service_pb2_grpc.TriggerServiceStub(ch).DeployTrigger(
            tsvc.DeployTriggerRequest(name=w.trigger, spec=_trigger_spec(w), automation_spec=daily()), timeout=10
        )
        assert dep.trigger.id.revision == 1
    return w


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
