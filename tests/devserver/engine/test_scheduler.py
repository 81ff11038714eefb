"""The trigger scheduler (through TriggerService): cron schedules fire on the scheduler's
clock, cron validation at deploy, and UpdateTriggers/DeleteTriggers that change nothing
unless every name exists."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.core import literals_pb2
from flyteidl2.task import common_pb2 as tc
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.trigger import trigger_service_pb2 as tsvc
from flyteidl2.workflow import run_service_pb2 as rs

from ..helpers import DOMAIN, PROJECT, P, inputs, latest_task, outputs, wait_done
from ..helpers import tick_scheduler as tick

pytestmark = pytest.mark.timeout(60)
HOUR = 3600.0


def trigger_name(name: str, task: str) -> identifier_pb2.TriggerName:
    return identifier_pb2.TriggerName(project=PROJECT, domain=DOMAIN, name=name, task_name=task)


def cron(expression: str = "", timezone: str | None = None, kickoff: str = "") -> tc.TriggerAutomationSpec:
    if timezone is None:
        sched = tc.Schedule(cron_expression=expression, kickoff_time_input_arg=kickoff)
    else:
        sched = tc.Schedule(cron=tc.Cron(expression=expression, timezone=timezone), kickoff_time_input_arg=kickoff)
    return tc.TriggerAutomationSpec(type=tc.TYPE_SCHEDULE, schedule=sched)


async def deploy(stubs, name, auto, spec: tdef.TriggerSpec):
    return (
        await stubs.trigger.DeployTrigger(tsvc.DeployTriggerRequest(name=name, spec=spec, automation_spec=auto))
    ).trigger


async def runs_of(stubs, name) -> list:
    return list((await stubs.run.ListRuns(rs.ListRunsRequest(trigger_name=name))).runs)


async def test_cron_expression_trigger_creates_a_run_when_due(stubs, server):
    tid = await latest_task(stubs, "sample_tasks.add_days")
    name = trigger_name("hourly", tid.name)
    delta = literals_pb2.Literal()
    delta.scalar.primitive.duration.FromTimedelta(dt.timedelta(days=1))
    spec = tdef.TriggerSpec(
        active=True, task_version=tid.version, inputs=tc.Inputs(literals=[tc.NamedLiteral(name="delta", value=delta)])
    )
    det = await deploy(stubs, name, cron("0 * * * *", kickoff="when"), spec)
    deployed = det.status.updated_at.ToNanoseconds() / 1e9
    due = (deployed // HOUR + 1) * HOUR  # the next full hour (UTC)
    try:
        assert await tick(server, due - 1) == 0
        assert await runs_of(stubs, name) == []
        assert await tick(server, due + 1) == 1
        assert await tick(server, due + 2) == 0  # fired once; the next one is an hour later
        runs = await runs_of(stubs, name)
        assert len(runs) == 1
        run_name = runs[0].action.id.run.name
        assert (await wait_done(stubs, run_name)).status.phase == P.ACTION_PHASE_SUCCEEDED
        # kickoff_time_input_arg received the scheduled time, not the tick's clock.
        out = await outputs(stubs, run_name)
        assert out["o0"].ToDatetime(dt.UTC) == dt.datetime.fromtimestamp(due + 86400, dt.UTC)
        got = (await stubs.trigger.GetTriggerDetails(tsvc.GetTriggerDetailsRequest(name=name))).trigger
        assert got.status.triggered_at.ToNanoseconds() / 1e9 == due
        assert await tick(server, due + HOUR + 1) == 1
        assert len(await runs_of(stubs, name)) == 2
    finally:
        await stubs.trigger.DeleteTriggers(tsvc.DeleteTriggersRequest(names=[name]))


async def test_cron_with_time_zone_fires_at_local_time(stubs, server):
    tid = await latest_task(stubs, "sample_tasks.add")
    name = trigger_name("kolkata-hourly", tid.name)
    spec = tdef.TriggerSpec(active=True, task_version=tid.version, inputs=inputs(x=1, y=2))
    det = await deploy(stubs, name, cron("0 * * * *", timezone="Asia/Kolkata"), spec)
    deployed = det.status.updated_at.ToNanoseconds() / 1e9
    # Asia/Kolkata is UTC+05:30: its full hours are at half past the hour in UTC.
    due = ((deployed - 1800) // HOUR + 1) * HOUR + 1800
    try:
        assert await tick(server, due - 1) == 0
        assert await tick(server, due) == 1
        (run,) = await runs_of(stubs, name)
        assert run.action.metadata.trigger_name == "kolkata-hourly"
        assert (await wait_done(stubs, run.action.id.run.name)).status.phase == P.ACTION_PHASE_SUCCEEDED
    finally:
        await stubs.trigger.DeleteTriggers(tsvc.DeleteTriggersRequest(names=[name]))


@pytest.mark.parametrize(
    "auto",
    [
        cron("61 * * * *"),
        cron("not a cron"),
        cron("0 0 * *"),
        cron(""),
        cron("* * * * *", timezone="Nowhere/City"),
        cron("0 * * * *", timezone="../etc"),
    ],
    ids=["minute-61", "words", "four-fields", "empty", "unknown-zone", "bad-zone"],
)
async def test_invalid_cron_is_rejected_at_deploy(stubs, auto):
    tid = await latest_task(stubs, "sample_tasks.add")
    name = trigger_name("bad-cron", tid.name)
    spec = tdef.TriggerSpec(active=True, task_version=tid.version, inputs=inputs(x=1, y=2))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await deploy(stubs, name, auto, spec)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.trigger.GetTriggerDetails(tsvc.GetTriggerDetailsRequest(name=name))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_update_and_delete_triggers_are_all_or_nothing(stubs):
    tid = await latest_task(stubs, "sample_tasks.add")
    existing = trigger_name("kept", tid.name)
    missing = trigger_name("never-deployed", tid.name)
    spec = tdef.TriggerSpec(active=True, task_version=tid.version, inputs=inputs(x=1, y=2))
    await deploy(stubs, existing, cron("0 0 * * *"), spec)

    async def current() -> tdef.TriggerDetails:
        return (await stubs.trigger.GetTriggerDetails(tsvc.GetTriggerDetailsRequest(name=existing))).trigger

    for names in ([existing, missing], [missing, existing]):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stubs.trigger.UpdateTriggers(tsvc.UpdateTriggersRequest(names=names, active=False))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        got = await current()
        assert got.spec.active and got.id.revision == 1
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stubs.trigger.DeleteTriggers(tsvc.DeleteTriggersRequest(names=names))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert (await current()).id.revision == 1  # still there
    hist = await stubs.trigger.GetTriggerRevisionHistory(tsvc.GetTriggerRevisionHistoryRequest(name=existing))
    assert [t.id.revision for t in hist.triggers] == [1]
    # A bad name anywhere in the list is INVALID_ARGUMENT, again before anything changes.
    bad = identifier_pb2.TriggerName(project=PROJECT, domain=DOMAIN, name="", task_name=tid.name)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.trigger.DeleteTriggers(tsvc.DeleteTriggersRequest(names=[existing, bad]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await current()).id.revision == 1
    # With every name present, both work (a repeated name counts once).
    await stubs.trigger.UpdateTriggers(tsvc.UpdateTriggersRequest(names=[existing, existing], active=False))
    got = await current()
    assert not got.spec.active and got.id.revision == 2
    await stubs.trigger.DeleteTriggers(tsvc.DeleteTriggersRequest(names=[existing]))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await current()
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
