"""What the every-RPC matrix (this folder) shares: the shape of a case, the matrix of cases
over protocols, the names of the entities, and the checks that run a case.

Every RPC the devserver serves, over gRPC (grpc.aio) and Connect (HTTP/1.1), in three
tables per service, each parametrized over the protocols:

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

The tables live in one test module per service group (:data:`GROUPS`); each checks that
its tables cover every method of its services. One DevServer (sample tasks, tmp data
dir) is shared by the folder (``conftest.py``); the fixture ``world`` creates the
entities the calls need (finished runs of ``sample_tasks.add`` and ``sample_tasks.chatty``,
a secret, a trigger, a project). Cases that mutate state use names suffixed with the
protocol, so the parametrizations never collide.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.task import common_pb2 as tc
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.trigger import trigger_definition_pb2 as tdef

from ...helpers import DOMAIN, PROJECT, Stubs, inputs, prim
from . import rpc_matrix as m

P = phase_pb2
SCOPE = identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN)
ADD = "sample_tasks.add"
DONE_RUN = "rpc-done"  # add(x=2, y=3), SUCCEEDED
CHATTY_RUN = "rpc-chatty"  # chatty(lines=2), SUCCEEDED
SECRET = "rpc-secret"
TRIGGER = "rpc-trigger"
EXTRA_PROJECT = "rpc-proj"
MISSING = "nope-does-not-exist"


@dataclass
class World:
    server: Any
    add_id: td.TaskIdentifier
    add_spec: td.TaskSpec
    trigger: identifier_pb2.TriggerName


def trigger_name(name: str, task: str = ADD) -> identifier_pb2.TriggerName:
    return identifier_pb2.TriggerName(project=PROJECT, domain=DOMAIN, name=name, task_name=task)


def daily() -> tc.TriggerAutomationSpec:
    return tc.TriggerAutomationSpec(
        type=tc.TYPE_SCHEDULE, schedule=tc.Schedule(rate=tc.FixedRate(value=1, unit=tc.FIXED_RATE_UNIT_DAY))
    )


def trigger_spec(world: World, *, active: bool = False) -> tdef.TriggerSpec:
    return tdef.TriggerSpec(active=active, task_version=world.add_id.version, inputs=inputs(x=1, y=2))


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


def matrix(cases) -> list:
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


async def maybe(value):
    return await value if inspect.isawaitable(value) else value


def outputs_of(resp) -> dict:
    return {nl.name: prim(nl.value) for nl in resp.outputs.literals}


def inputs_of(resp) -> dict:
    return {nl.name: prim(nl.value) for nl in resp.inputs.literals}


# ---------------------------------------------------------------------------------------
# the three kinds of case
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


@dataclass(frozen=True)
class Unimpl:
    service: str  # a key of m.SERVICES, or a full service name for raw calls
    method: str
    stream: bool = False  # raw calls only: call as server-streaming

    @property
    def id(self) -> str:
        return f"{self.service}.{self.method}" + ("[stream]" if self.stream else "")


# ---------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------


async def check_ok(env: Env, case: Ok) -> None:
    request = await maybe(case.request(env))
    resp = await env.rpc.call(case.service, case.method, request, max_messages=case.max_messages, timeout=30)
    await maybe(case.check(env, resp))


async def check_error(env: Env, case: Err) -> None:
    request = await maybe(case.request(env))
    with pytest.raises(m.RPC_ERRORS) as e:
        await env.rpc.call(case.service, case.method, request, max_messages=1, timeout=15)
    assert m.code_name(e.value) == case.code, (env.protocol, m.code_name(e.value), m.error_message(e.value))


async def _call_unimplemented(env: Env, case: Unimpl):
    if case.service in m.SERVICES:
        from google.protobuf import message_factory

        request = message_factory.GetMessageClass(m.method_descriptor(case.service, case.method).input_type)()
        return await env.rpc.call(case.service, case.method, request, max_messages=1, timeout=10)
    if case.stream:
        return await env.rpc.raw_stream(case.service, case.method)
    return await env.rpc.raw_unary(case.service, case.method)


async def check_unimplemented(env: Env, case: Unimpl) -> None:
    with pytest.raises(m.RPC_ERRORS) as e:
        await asyncio.wait_for(_call_unimplemented(env, case), 20)
    assert m.code_name(e.value) == "UNIMPLEMENTED", (env.protocol, m.code_name(e.value), m.error_message(e.value))


# ---------------------------------------------------------------------------------------
# coverage
# ---------------------------------------------------------------------------------------

# RPCs the brief requires (plus RunService.GetActionData); the tables must cover them all.
REQUIRED = {
    "RunService": [
        "CreateRun",
        "AbortRun",
        "GetRunDetails",
        "WatchRunDetails",
        "GetActionDetails",
        "WatchActionDetails",
        "AbortAction",
        "ListRuns",
        "WatchRuns",
        "ListActions",
        "WatchActions",
        "GetActionDataURIs",
        "GetActionData",
    ],
    "TaskService": ["DeployTask", "GetTaskDetails", "ListTasks", "ListVersions"],
    "DataProxyService": ["CreateUploadLocation", "UploadInputs", "GetActionData", "TailLogs"],
    "ClusterService": ["SelectCluster"],
    "ProjectService": ["CreateProject", "GetProject", "ListProjects", "UpdateProject"],
    "SecretService": ["CreateSecret", "UpdateSecret", "GetSecret", "DeleteSecret", "ListSecrets"],
    "TriggerService": m.all_methods("TriggerService"),
    "IdentityService": ["UserInfo"],
    "AuthMetadataService": ["GetOAuth2Metadata", "GetPublicClientConfig"],
}

# Which test module holds the tables of which services.
GROUPS = {
    "test_run_service": ("RunService",),
    "test_task_and_dataproxy_services": ("TaskService", "DataProxyService"),
    "test_trigger_service": ("TriggerService",),
    "test_project_secret_cluster_auth_services": (
        "ProjectService",
        "SecretService",
        "ClusterService",
        "IdentityService",
        "AuthMetadataService",
    ),
}


def check_coverage(group: str, ok_cases: list[Ok], unimplemented_cases: list[Unimpl]) -> None:
    """The group's tables cover exactly its required RPCs, and every other method of its
    services is in its UNIMPLEMENTED table."""
    services = GROUPS[group]
    covered = {(c.service, c.method) for c in ok_cases}
    required = {(s, meth) for s in services for meth in REQUIRED[s]}
    assert required - covered == set()
    assert covered - required == set()
    unimpl = {(c.service, c.method) for c in unimplemented_cases if c.service in m.SERVICES}
    assert {s for s, _ in unimpl} <= set(services)
    for service in services:
        for meth in m.all_methods(service):
            assert ((service, meth) in covered) != ((service, meth) in unimpl), (service, meth)


def table_tests(group: str, ok_cases: list[Ok], error_cases: list[Err], unimplemented_cases: list[Unimpl]) -> tuple:
    """A group's tests (bind them to ``test_*`` names in its module): its coverage, then every
    OK case and every error case over every protocol."""

    def test_tables_cover_every_rpc_of_these_services() -> None:
        check_coverage(group, ok_cases, unimplemented_cases)

    @pytest.mark.parametrize(("protocol", "case"), matrix(ok_cases))
    async def test_rpc_ok(env: Env, case: Ok) -> None:
        await check_ok(env, case)

    @pytest.mark.parametrize(("protocol", "case"), matrix(error_cases))
    async def test_rpc_error_code(env: Env, case: Err) -> None:
        await check_error(env, case)

    return test_tables_cover_every_rpc_of_these_services, test_rpc_ok, test_rpc_error_code


def unimplemented_test(cases: list[Unimpl]):
    """The test that every case answers UNIMPLEMENTED, over every protocol."""

    @pytest.mark.parametrize(("protocol", "case"), matrix(cases))
    async def test_rpc_unimplemented(env: Env, case: Unimpl) -> None:
        await check_unimplemented(env, case)

    return test_rpc_unimplemented
