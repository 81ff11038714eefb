"""Every RPC of TriggerService, over every protocol (see ``cases.py``)."""

from __future__ import annotations

import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.task import common_pb2 as tc
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.trigger import trigger_service_pb2 as tsvc

from . import rpc_matrix as m
from .cases import MISSING, SCOPE, TRIGGER, Env, Err, Ok, Unimpl, daily, table_tests, trigger_name, trigger_spec

pytestmark = pytest.mark.timeout(60)


async def _make_trigger(env: Env, base: str, *, active: bool = False) -> identifier_pb2.TriggerName:
    name = trigger_name(env.name(base))
    await env.setup.trigger.DeployTrigger(
        tsvc.DeployTriggerRequest(name=name, spec=trigger_spec(env.world, active=active), automation_spec=daily()),
        timeout=10,
    )
    return name


def _req_deploy_trigger(env: Env):
    return tsvc.DeployTriggerRequest(
        name=trigger_name(env.name("rpc-deployed")), spec=trigger_spec(env.world), automation_spec=daily()
    )


def _check_deploy_trigger(env: Env, resp):
    t = resp.trigger
    assert t.id.name == trigger_name(env.name("rpc-deployed")) and t.id.revision == 1
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
    got = await env.rpc.call(
        "TriggerService", "GetTriggerDetails", tsvc.GetTriggerDetailsRequest(name=trigger_name(env.name("rpc-upd")))
    )
    assert not got.trigger.spec.active and got.trigger.id.revision == 2


async def _req_delete_triggers(env: Env):
    return tsvc.DeleteTriggersRequest(names=[await _make_trigger(env, "rpc-del")])


async def _check_delete_triggers(env: Env, resp):
    assert resp == tsvc.DeleteTriggersResponse()
    with pytest.raises(m.RPC_ERRORS) as e:
        await env.rpc.call(
            "TriggerService", "GetTriggerDetails", tsvc.GetTriggerDetailsRequest(name=trigger_name(env.name("rpc-del")))
        )
    assert m.code_name(e.value) == "NOT_FOUND"


OK_CASES: list[Ok] = [
    Ok("TriggerService", "DeployTrigger", _req_deploy_trigger, _check_deploy_trigger),
    Ok(
        "TriggerService",
        "GetTriggerDetails",
        lambda e: tsvc.GetTriggerDetailsRequest(name=e.world.trigger),
        _check_trigger_details,
    ),
    Ok(
        "TriggerService",
        "GetTriggerRevisionDetails",
        lambda e: tsvc.GetTriggerRevisionDetailsRequest(
            id=identifier_pb2.TriggerIdentifier(name=e.world.trigger, revision=1)
        ),
        _check_trigger_revision,
    ),
    Ok(
        "TriggerService",
        "GetTriggerRevisionDetails",
        _req_trigger_old_revision,
        _check_trigger_old_revision,
        label="older-revision",
    ),
    Ok("TriggerService", "ListTriggers", lambda e: tsvc.ListTriggersRequest(project_id=SCOPE), _check_list_triggers),
    Ok(
        "TriggerService",
        "GetTriggerRevisionHistory",
        lambda e: tsvc.GetTriggerRevisionHistoryRequest(name=e.world.trigger),
        _check_revision_history,
    ),
    Ok("TriggerService", "UpdateTriggers", _req_update_triggers, _check_update_triggers),
    Ok("TriggerService", "DeleteTriggers", _req_delete_triggers, _check_delete_triggers),
]


def _missing_trigger():
    return trigger_name(MISSING)


ERROR_CASES: list[Err] = [
    Err(
        "TriggerService",
        "DeployTrigger",
        lambda e: tsvc.DeployTriggerRequest(
            name=trigger_name("rpc-t", task="sample_tasks.nope"), spec=trigger_spec(e.world), automation_spec=daily()
        ),
        "NOT_FOUND",
        "unknown-task",
    ),
    Err(
        "TriggerService",
        "DeployTrigger",
        lambda e: tsvc.DeployTriggerRequest(
            name=trigger_name("rpc-badcron"),
            spec=trigger_spec(e.world),
            automation_spec=tc.TriggerAutomationSpec(
                type=tc.TYPE_SCHEDULE, schedule=tc.Schedule(cron_expression="not a cron")
            ),
        ),
        "INVALID_ARGUMENT",
        "bad-cron",
    ),
    Err(
        "TriggerService",
        "DeployTrigger",
        lambda e: tsvc.DeployTriggerRequest(
            name=e.world.trigger, revision=99, spec=trigger_spec(e.world), automation_spec=daily()
        ),
        "ABORTED",
        "stale-revision",
    ),
    Err(
        "TriggerService",
        "GetTriggerDetails",
        lambda e: tsvc.GetTriggerDetailsRequest(name=_missing_trigger()),
        "NOT_FOUND",
    ),
    Err(
        "TriggerService",
        "GetTriggerRevisionDetails",
        lambda e: tsvc.GetTriggerRevisionDetailsRequest(
            id=identifier_pb2.TriggerIdentifier(name=e.world.trigger, revision=42)
        ),
        "NOT_FOUND",
        "unknown-revision",
    ),
    Err(
        "TriggerService",
        "GetTriggerRevisionHistory",
        lambda e: tsvc.GetTriggerRevisionHistoryRequest(name=_missing_trigger()),
        "NOT_FOUND",
    ),
    Err(
        "TriggerService",
        "UpdateTriggers",
        lambda e: tsvc.UpdateTriggersRequest(names=[_missing_trigger()], active=True),
        "NOT_FOUND",
    ),
    Err(
        "TriggerService",
        "DeleteTriggers",
        lambda e: tsvc.DeleteTriggersRequest(names=[_missing_trigger()]),
        "NOT_FOUND",
    ),
]

UNIMPLEMENTED_CASES: list[Unimpl] = []  # every method of these services is implemented


test_tables_cover_every_rpc, test_rpc_ok, test_rpc_error_code = table_tests(
    "test_trigger_service", OK_CASES, ERROR_CASES, UNIMPLEMENTED_CASES
)
