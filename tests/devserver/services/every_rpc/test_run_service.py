"""Every RPC of RunService, over every protocol (see ``cases.py``)."""

from __future__ import annotations

import re

import pytest
from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.common import run_pb2 as common_run_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.workflow import run_service_pb2 as rs

from ...helpers import DOMAIN, PROJECT, action_id, inputs, run_id
from .cases import (
    ADD,
    CHATTY_RUN,
    DONE_RUN,
    MISSING,
    SCOPE,
    Env,
    Err,
    Ok,
    P,
    Unimpl,
    inputs_of,
    outputs_of,
    table_tests,
    unimplemented_test,
)

pytestmark = pytest.mark.timeout(60)


async def _held_run(env: Env, base: str) -> str:
    """A run of add that stays QUEUED (held by the admin API): something to abort."""
    name = env.name(base)
    env.server.admin.hold(name)
    await env.setup.run.CreateRun(
        rs.CreateRunRequest(run_id=run_id(name), task_id=env.world.add_id, inputs=inputs(x=1, y=1)), timeout=10
    )
    return name


def _req_create_run(env: Env):
    return rs.CreateRunRequest(
        run_id=run_id(env.name("rpc-create")), task_id=env.world.add_id, inputs=inputs(x=40, y=2)
    )


async def _check_create_run(env: Env, resp):
    run = resp.run
    assert run.action.id.run == run_id(env.name("rpc-create"))
    assert run.action.id.name == "a0"
    assert run.action.metadata.task.id.name == ADD
    assert run.action.status.phase == P.ACTION_PHASE_QUEUED and run.action.status.attempts == 1  # REFERENCE 2b
    msgs = await env.rpc.call(
        "RunService",
        "WatchActionDetails",
        rs.WatchActionDetailsRequest(action_id=action_id(env.name("rpc-create"))),
        timeout=30,
    )
    assert msgs[-1].details.status.phase == P.ACTION_PHASE_SUCCEEDED
    data = await env.rpc.call(
        "DataProxyService", "GetActionData", dp.GetActionDataRequest(action_id=action_id(env.name("rpc-create")))
    )
    assert outputs_of(data) == {"o0": 42}


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
    assert inputs_of(data) == {"x": 2, "y": 3} and outputs_of(data) == {"o0": 5}


async def _req_create_run_offloaded(env: Env):
    up = await env.setup.dp.UploadInputs(dp.UploadInputsRequest(project_id=SCOPE, inputs=inputs(x=4, y=5)), timeout=10)
    return rs.CreateRunRequest(
        run_id=run_id(env.name("rpc-offload")), task_id=env.world.add_id, offloaded_input_data=up.offloaded_input_data
    )


async def _check_create_run_offloaded(env: Env, resp):
    aid = action_id(env.name("rpc-offload"))
    assert resp.run.action.id == aid
    msgs = await env.rpc.call(
        "RunService", "WatchActionDetails", rs.WatchActionDetailsRequest(action_id=aid), timeout=30
    )
    assert msgs[-1].details.status.phase == P.ACTION_PHASE_SUCCEEDED
    data = await env.rpc.call("RunService", "GetActionData", rs.GetActionDataRequest(action_id=aid))
    assert inputs_of(data) == {"x": 4, "y": 5} and outputs_of(data) == {"o0": 9}


def _name30(env: Env) -> str:
    return f"len30-{env.protocol}".ljust(30, "0")


def _check_create_run_30(env: Env, resp):
    assert len(_name30(env)) == 30 and resp.run.action.id.run.name == _name30(env)


async def _req_abort_run_default(env: Env):
    return rs.AbortRunRequest(run_id=run_id(await _held_run(env, "rpc-abort-dflt")))


async def _check_abort_run_default(env: Env, resp):
    got = await env.rpc.call(
        "RunService", "GetRunDetails", rs.GetRunDetailsRequest(run_id=run_id(env.name("rpc-abort-dflt")))
    )
    assert got.details.action.status.phase == P.ACTION_PHASE_ABORTED
    assert got.details.action.abort_info.reason == "User requested abort"  # REFERENCE 2b default


async def _check_list_runs_paged(env: Env, resp):
    assert len(resp.runs) == 1 and resp.token == "1"  # the token is a decimal offset
    nxt = await env.rpc.call(
        "RunService",
        "ListRuns",
        rs.ListRunsRequest(project_id=SCOPE, request=list_pb2.ListRequest(limit=1, token=resp.token)),
    )
    assert len(nxt.runs) == 1 and nxt.runs[0].action.id != resp.runs[0].action.id
    assert nxt.token in ("2", "")


async def _req_abort_run(env: Env):
    name = await _held_run(env, "rpc-abort-run")
    return rs.AbortRunRequest(run_id=run_id(name), reason="matrix abort")


async def _check_abort_run(env: Env, resp):
    assert resp == rs.AbortRunResponse()
    got = await env.rpc.call(
        "RunService", "GetRunDetails", rs.GetRunDetailsRequest(run_id=run_id(env.name("rpc-abort-run")))
    )
    assert got.details.action.status.phase == P.ACTION_PHASE_ABORTED
    assert got.details.action.abort_info.reason == "matrix abort"


async def _req_abort_action(env: Env):
    name = await _held_run(env, "rpc-abort-action")
    return rs.AbortActionRequest(action_id=action_id(name), reason="matrix abort action")


async def _check_abort_action(env: Env, resp):
    assert resp == rs.AbortActionResponse()
    got = await env.rpc.call(
        "RunService", "GetActionDetails", rs.GetActionDetailsRequest(action_id=action_id(env.name("rpc-abort-action")))
    )
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
    assert inputs_of(resp) == {"x": 2, "y": 3}
    assert outputs_of(resp) == {"o0": 5}


OK_CASES: list[Ok] = [
    Ok("RunService", "CreateRun", _req_create_run, _check_create_run),
    Ok(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(project_id=SCOPE, task_id=e.world.add_id, inputs=inputs(x=1, y=1)),
        _check_create_run_generated,
        label="generated-name",
    ),
    Ok(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(run_id=run_id(DONE_RUN), task_id=e.world.add_id, inputs=inputs(x=100, y=100)),
        _check_create_run_existing,
        label="existing-name",
    ),
    Ok("RunService", "CreateRun", _req_create_run_offloaded, _check_create_run_offloaded, label="offloaded-inputs"),
    Ok(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(run_id=run_id(_name30(e)), task_id=e.world.add_id, inputs=inputs(x=1, y=1)),
        _check_create_run_30,
        label="30-char-name",
    ),
    Ok("RunService", "AbortRun", _req_abort_run, _check_abort_run),
    Ok("RunService", "AbortRun", _req_abort_run_default, _check_abort_run_default, label="default-reason"),
    Ok("RunService", "GetRunDetails", lambda e: rs.GetRunDetailsRequest(run_id=run_id(DONE_RUN)), _check_run_details),
    Ok(
        "RunService",
        "WatchRunDetails",
        lambda e: rs.WatchRunDetailsRequest(run_id=run_id(DONE_RUN)),
        _check_watch_run_details,
        max_messages=1,
    ),
    Ok(
        "RunService",
        "GetActionDetails",
        lambda e: rs.GetActionDetailsRequest(action_id=action_id(DONE_RUN)),
        _check_action_details,
    ),
    Ok(
        "RunService",
        "WatchActionDetails",
        lambda e: rs.WatchActionDetailsRequest(action_id=action_id(DONE_RUN)),
        _check_watch_action_details,
        max_messages=1,
    ),
    Ok("RunService", "AbortAction", _req_abort_action, _check_abort_action),
    Ok("RunService", "ListRuns", lambda e: rs.ListRunsRequest(project_id=SCOPE), _check_list_runs),
    Ok(
        "RunService",
        "ListRuns",
        lambda e: rs.ListRunsRequest(project_id=SCOPE, request=list_pb2.ListRequest(limit=1)),
        _check_list_runs_paged,
        label="paged",
    ),
    Ok("RunService", "WatchRuns", lambda e: rs.WatchRunsRequest(project_id=SCOPE), _check_watch_runs, max_messages=1),
    Ok("RunService", "ListActions", lambda e: rs.ListActionsRequest(run_id=run_id(DONE_RUN)), _check_list_actions),
    Ok(
        "RunService",
        "WatchActions",
        lambda e: rs.WatchActionsRequest(run_id=run_id(DONE_RUN)),
        _check_watch_actions,
        max_messages=1,
    ),
    Ok(
        "RunService",
        "GetActionDataURIs",
        lambda e: rs.GetActionDataURIsRequest(action_id=action_id(DONE_RUN)),
        _check_data_uris,
    ),
    # Not in the brief's list, but implemented by the devserver (and by the real backend).
    Ok(
        "RunService",
        "GetActionData",
        lambda e: rs.GetActionDataRequest(action_id=action_id(DONE_RUN)),
        _check_run_action_data,
    ),
]


def _missing_run():
    return run_id(MISSING)


def _missing_action():
    return action_id(MISSING)


ERROR_CASES: list[Err] = [
    Err(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(run_id=run_id("Bad_Name!"), task_id=e.world.add_id, inputs=inputs(x=1, y=1)),
        "INVALID_ARGUMENT",
        "bad-run-name",
    ),
    Err(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(run_id=run_id("x" * 31), task_id=e.world.add_id, inputs=inputs(x=1, y=1)),
        "INVALID_ARGUMENT",
        "run-name-too-long",
    ),
    *[
        Err(
            "RunService",
            "CreateRun",
            lambda e, n=n: rs.CreateRunRequest(run_id=run_id(n), task_id=e.world.add_id, inputs=inputs(x=1, y=1)),
            "INVALID_ARGUMENT",
            f"run-name-{label}",
        )
        for label, n in (("leading-digit", "1abc"), ("trailing-hyphen", "abc-"), ("upper-case", "Abc"), ("dot", "a.b"))
    ],
    Err(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(
            run_id=identifier_pb2.RunIdentifier(project=MISSING, domain=DOMAIN, name="r1"),
            task_id=e.world.add_id,
            inputs=inputs(x=1, y=1),
        ),
        "NOT_FOUND",
        "missing-project",
    ),
    Err(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(
            run_id=identifier_pb2.RunIdentifier(project=PROJECT, domain="no-such-domain", name="r1"),
            task_id=e.world.add_id,
            inputs=inputs(x=1, y=1),
        ),
        "NOT_FOUND",
        "missing-domain",
    ),
    Err(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(
            run_id=run_id("empty-offload"),
            task_id=e.world.add_id,
            offloaded_input_data=common_run_pb2.OffloadedInputData(inputs_hash="abc"),
        ),
        "INVALID_ARGUMENT",
        "empty-offloaded-uri",
    ),
    Err(
        "RunService",
        "CreateRun",
        lambda e: rs.CreateRunRequest(
            run_id=run_id("unknown-task-run"),
            task_id=td.TaskIdentifier(project=PROJECT, domain=DOMAIN, name="sample_tasks.nope", version="v"),
            inputs=inputs(),
        ),
        "NOT_FOUND",
        "unknown-task",
    ),
    Err("RunService", "AbortRun", lambda e: rs.AbortRunRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "GetRunDetails", lambda e: rs.GetRunDetailsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "WatchRunDetails", lambda e: rs.WatchRunDetailsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err(
        "RunService", "GetActionDetails", lambda e: rs.GetActionDetailsRequest(action_id=_missing_action()), "NOT_FOUND"
    ),
    Err(
        "RunService",
        "GetActionDetails",
        lambda e: rs.GetActionDetailsRequest(action_id=action_id(DONE_RUN, "a99")),
        "NOT_FOUND",
        "unknown-action-of-known-run",
    ),
    Err(
        "RunService",
        "WatchActionDetails",
        lambda e: rs.WatchActionDetailsRequest(action_id=_missing_action()),
        "NOT_FOUND",
    ),
    Err("RunService", "AbortAction", lambda e: rs.AbortActionRequest(action_id=_missing_action()), "NOT_FOUND"),
    Err(
        "RunService",
        "ListRuns",
        lambda e: rs.ListRunsRequest(
            project_id=SCOPE,
            request=list_pb2.ListRequest(
                filters=[list_pb2.Filter(function=list_pb2.Filter.EQUAL, field="phase", values=["bogus"])]
            ),
        ),
        "INVALID_ARGUMENT",
        "unknown-phase-filter",
    ),
    Err(
        "RunService",
        "WatchRuns",
        lambda e: rs.WatchRunsRequest(project_id=identifier_pb2.ProjectIdentifier(name=MISSING, domain=DOMAIN)),
        "NOT_FOUND",
        "missing-project",
    ),
    Err("RunService", "ListActions", lambda e: rs.ListActionsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err("RunService", "WatchActions", lambda e: rs.WatchActionsRequest(run_id=_missing_run()), "NOT_FOUND"),
    Err(
        "RunService",
        "GetActionDataURIs",
        lambda e: rs.GetActionDataURIsRequest(action_id=_missing_action()),
        "NOT_FOUND",
    ),
    Err("RunService", "GetActionData", lambda e: rs.GetActionDataRequest(action_id=_missing_action()), "NOT_FOUND"),
]

UNIMPLEMENTED_CASES: list[Unimpl] = [
    Unimpl("RunService", "GetActionLogContext"),
    Unimpl("RunService", "WatchClusterEvents"),
    Unimpl("RunService", "SignalEvent"),
    Unimpl("RunService", "WatchGroups"),
    # raw paths (no generated client method): an unknown method of a served service, an
    # unknown service, and a real flyteidl2 service the devserver does not serve
    Unimpl("flyteidl2.workflow.RunService", "NoSuchMethod"),
    Unimpl("flyteidl2.workflow.RunService", "NoSuchMethod", stream=True),
    Unimpl("no.such.Service", "Call"),
    Unimpl("no.such.Service", "Call", stream=True),
    Unimpl("flyteidl2.workflow.InternalRunService", "RecordAction"),
]


test_tables_cover_every_rpc, test_rpc_ok, test_rpc_error_code = table_tests(
    "test_run_service", OK_CASES, ERROR_CASES, UNIMPLEMENTED_CASES
)
test_rpc_unimplemented = unimplemented_test(UNIMPLEMENTED_CASES)
