"""Shared helpers for the devserver tests: grpc.aio stubs, literals, waits."""

from __future__ import annotations

import asyncio
import datetime as _dt

import grpc
from flyteidl2.auth import auth_service_pb2_grpc, identity_pb2_grpc
from flyteidl2.cluster import service_pb2_grpc as cluster_grpc
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.core import literals_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2_grpc as dp_grpc
from flyteidl2.project import project_service_pb2_grpc as project_grpc
from flyteidl2.secret import secret_pb2_grpc
from flyteidl2.task import common_pb2, task_definition_pb2
from flyteidl2.task import task_service_pb2_grpc as task_grpc
from flyteidl2.trigger import trigger_service_pb2_grpc as trigger_grpc
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow import run_service_pb2_grpc as run_grpc

from flyte_remote_core.devserver.admin._pb import admin_pb2_grpc

PROJECT, DOMAIN = "flytesnacks", "development"
TERMINAL = {
    phase_pb2.ACTION_PHASE_SUCCEEDED,
    phase_pb2.ACTION_PHASE_FAILED,
    phase_pb2.ACTION_PHASE_ABORTED,
    phase_pb2.ACTION_PHASE_TIMED_OUT,
}
P = phase_pb2


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.run = run_grpc.RunServiceStub(channel)
        self.task = task_grpc.TaskServiceStub(channel)
        self.dp = dp_grpc.DataProxyServiceStub(channel)
        self.project = project_grpc.ProjectServiceStub(channel)
        self.secret = secret_pb2_grpc.SecretServiceStub(channel)
        self.trigger = trigger_grpc.TriggerServiceStub(channel)
        self.cluster = cluster_grpc.ClusterServiceStub(channel)
        self.identity = identity_pb2_grpc.IdentityServiceStub(channel)
        self.auth = auth_service_pb2_grpc.AuthMetadataServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)


def run_id(name: str, project: str = PROJECT, domain: str = DOMAIN) -> identifier_pb2.RunIdentifier:
    return identifier_pb2.RunIdentifier(project=project, domain=domain, name=name)


def action_id(name: str, action: str = "a0") -> identifier_pb2.ActionIdentifier:
    return identifier_pb2.ActionIdentifier(run=run_id(name), name=action)


def lit(value) -> literals_pb2.Literal:
    out = literals_pb2.Literal()
    p = out.scalar.primitive
    if isinstance(value, bool):
        p.boolean = value
    elif isinstance(value, int):
        p.integer = value
    elif isinstance(value, float):
        p.float_value = value
    elif isinstance(value, str):
        p.string_value = value
    elif isinstance(value, _dt.datetime):
        p.datetime.FromDatetime(value)
    else:
        raise TypeError(value)
    return out


def inputs(**values) -> common_pb2.Inputs:
    return common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name=k, value=lit(v)) for k, v in values.items()])


def prim(literal: literals_pb2.Literal):
    p = literal.scalar.primitive
    return getattr(p, p.WhichOneof("value"))


def task_id(name: str, version: str = "", project: str = PROJECT, domain: str = DOMAIN):
    return task_definition_pb2.TaskIdentifier(project=project, domain=domain, name=name, version=version)


async def latest_task(stubs: Stubs, name: str):
    """Resolve "latest" the way the client does: ListTasks filtered by name, created_at desc, limit 1."""
    from flyteidl2.common import list_pb2
    from flyteidl2.task import task_service_pb2 as ts

    req = ts.ListTasksRequest(
        project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN),
        request=list_pb2.ListRequest(
            limit=1,
            sort_by=list_pb2.Sort(key="created_at", direction=list_pb2.Sort.DESCENDING),
            filters=[list_pb2.Filter(function=list_pb2.Filter.EQUAL, field="name", values=[name])],
        ),
    )
    resp = await stubs.task.ListTasks(req, timeout=10)
    assert resp.tasks, f"task {name} not deployed"
    return resp.tasks[0].task_id


async def create_run(stubs: Stubs, task: str, name: str | None = None, **values):
    tid = await latest_task(stubs, task)
    req = rs.CreateRunRequest(task_id=tid, inputs=inputs(**values))
    if name:
        req.run_id.CopyFrom(run_id(name))
    else:
        req.project_id.name, req.project_id.domain = PROJECT, DOMAIN
    return (await stubs.run.CreateRun(req, timeout=10)).run


async def watch_phases(stubs: Stubs, name: str, timeout: float = 30):
    """All ActionDetails seen on WatchActionDetails(a0) until the stream closes."""
    seen = []

    async def _go():
        async for resp in stubs.run.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id(name))):
            seen.append(resp.details)

    await asyncio.wait_for(_go(), timeout)
    return seen


async def wait_done(stubs: Stubs, name: str, timeout: float = 30):
    return (await watch_phases(stubs, name, timeout))[-1]


async def wait_phase(stubs: Stubs, name: str, phase: int, timeout: float = 30):
    async def _go():
        async for resp in stubs.run.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id(name))):
            if resp.details.status.phase == phase:
                return resp.details
        raise AssertionError(f"stream closed before phase {phase}")

    return await asyncio.wait_for(_go(), timeout)


async def outputs(stubs: Stubs, name: str) -> dict:
    from flyteidl2.dataproxy import dataproxy_service_pb2 as dp

    resp = await stubs.dp.GetActionData(dp.GetActionDataRequest(action_id=action_id(name)), timeout=10)
    return {nl.name: prim(nl.value) for nl in resp.outputs.literals}


async def tick_scheduler(server, now: float) -> int:
    """One trigger-scheduler tick on the server's loop with its clock at ``now``; how many runs it created.

    Reaches into the server: the clock is not part of the admin API.
    """
    fut = server._thread.submit(server._backend.engine.scheduler.tick(now))
    return await asyncio.wrap_future(fut)
