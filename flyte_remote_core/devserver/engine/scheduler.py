"""The trigger scheduler: turns the schedules of active triggers into runs.

While a trigger is active, a FixedRate (every N minutes/hours/days, from ``start_time`` or
the activation time) or cron schedule (croniter) creates a run of the trigger's task with
the trigger's inputs; ``kickoff_time_input_arg`` receives the scheduled time. Missed fire
times while the server was down are not replayed (only the next one).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from flyteidl2.common import identifier_pb2
from flyteidl2.core import literals_pb2
from flyteidl2.task import common_pb2
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2

from .model import log, ts
from .triggers import TriggerBook, TriggerKey

_UNIT_S = {1: 60, 2: 3600, 3: 86400}  # FixedRateUnit MINUTE, HOUR, DAY
TICK_S = 1.0

CreateRun = Callable[[run_service_pb2.CreateRunRequest], Awaitable[rd.Run]]


def next_fire(details: tdef.TriggerDetails, after: float, activated: float) -> float | None:
    """The first fire time strictly after ``after`` (None: no schedule)."""
    auto = details.automation_spec
    if auto.WhichOneof("automation") != "schedule":
        return None
    sched = auto.schedule
    kind = sched.WhichOneof("expression")
    if kind == "rate":
        interval = sched.rate.value * _UNIT_S.get(sched.rate.unit, 60)
        if interval <= 0:
            return None
        base = sched.rate.start_time.ToNanoseconds() / 1e9 if sched.rate.HasField("start_time") else activated
        if after < base:
            return base if sched.rate.HasField("start_time") else base + interval
        n = int((after - base) // interval) + 1
        return base + n * interval
    if kind in ("cron_expression", "cron"):
        from croniter import croniter

        expr = sched.cron_expression if kind == "cron_expression" else sched.cron.expression
        tzname = sched.cron.timezone if kind == "cron" else ""
        tz: dt.tzinfo = dt.UTC
        if tzname:
            try:
                tz = ZoneInfo(tzname)
            except Exception:
                tz = dt.UTC
        start = dt.datetime.fromtimestamp(after, tz)
        return float(croniter(expr, start).get_next(float))
    return None


class Scheduler:
    def __init__(self, triggers: TriggerBook, create_run: CreateRun) -> None:
        self.triggers = triggers
        self.create_run = create_run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.tick(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("devserver scheduler tick failed")
            await asyncio.sleep(TICK_S)

    async def tick(self, now: float) -> int:
        """Fire every active trigger that is due at ``now``; returns how many runs were created."""
        fired = 0
        for project, domain, task_name, name, blob, updated_at, last_fired, org in self.triggers.active():
            det = tdef.TriggerDetails.FromString(blob)
            after = last_fired if last_fired else updated_at
            due = next_fire(det, after, updated_at)
            if due is None or due > now:
                continue
            key = (project, domain, task_name, name)
            self.triggers.mark_fired(key, due)
            try:
                await self._fire(det, org, key, due)
                fired += 1
            except Exception:
                log.exception("trigger %s failed to create a run", name)
        return fired

    async def _fire(self, det: tdef.TriggerDetails, org: str, key: TriggerKey, due: float) -> None:
        project, domain, task_name, name = key
        req = run_service_pb2.CreateRunRequest(
            project_id=identifier_pb2.ProjectIdentifier(organization=org, name=project, domain=domain),
            trigger_name=identifier_pb2.TriggerName(
                org=org, project=project, domain=domain, name=name, task_name=task_name
            ),
            run_spec=det.spec.run_spec,
        )
        kick = det.automation_spec.schedule.kickoff_time_input_arg
        if det.spec.WhichOneof("input_wrapper") == "offloaded_input_data" and not kick:
            req.offloaded_input_data.CopyFrom(det.spec.offloaded_input_data)
        else:
            inputs = common_pb2.Inputs()
            inputs.CopyFrom(det.spec.inputs)
            if kick:
                lit = literals_pb2.Literal()
                lit.scalar.primitive.datetime.CopyFrom(ts(due))
                for nl in inputs.literals:
                    if nl.name == kick:
                        nl.value.CopyFrom(lit)
                        break
                else:
                    inputs.literals.add(name=kick, value=lit)
            req.inputs.CopyFrom(inputs)
        await self.create_run(req)
        self.triggers.set_triggered_at(key, due)
