"""TriggerService and the scheduler that turns active schedules into runs.

A trigger is deployed with DeployTrigger or with the ``triggers`` of DeployTask.
While active, a FixedRate (every N minutes/hours/days, from ``start_time`` or the
activation time) or cron schedule (croniter) creates a run of the trigger's task
with the trigger's inputs; ``kickoff_time_input_arg`` receives the scheduled time.
Missed fire times while the server was down are not replayed (only the next one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2
from flyteidl2.core import literals_pb2
from flyteidl2.task import common_pb2
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.trigger import trigger_service_pb2 as tsvc
from flyteidl2.trigger.trigger_service_connect import TriggerService
from flyteidl2.workflow import run_service_pb2

from ._engine import Engine, not_found, ts
from ._engine_query import list_page, select_where
from ._listing import apply_sort, sort_keys

log = logging.getLogger("flyte_remote_core.devserver")

_UNIT_S = {1: 60, 2: 3600, 3: 86400}  # FixedRateUnit MINUTE, HOUR, DAY
TICK_S = 1.0


def _key(name: identifier_pb2.TriggerName) -> tuple:
    if not name.name or not name.task_name:
        raise ConnectError(Code.INVALID_ARGUMENT, "trigger name needs a name and a task_name")
    return (name.project, name.domain, name.task_name, name.name)


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
        tz = dt.timezone.utc
        if tzname:
            try:
                from zoneinfo import ZoneInfo

                tz = ZoneInfo(tzname)
            except Exception:
                tz = dt.timezone.utc
        start = dt.datetime.fromtimestamp(after, tz)
        return croniter(expr, start).get_next(float)
    return None


def validate_schedule(auto) -> None:
    if auto.WhichOneof("automation") != "schedule":
        return
    sched = auto.schedule
    kind = sched.WhichOneof("expression")
    if kind in ("cron_expression", "cron"):
        from croniter import croniter

        expr = sched.cron_expression if kind == "cron_expression" else sched.cron.expression
        if not expr.strip() or not croniter.is_valid(expr):
            raise ConnectError(Code.INVALID_ARGUMENT, f"invalid cron expression {expr!r}")
        if kind == "cron" and sched.cron.timezone:
            try:
                from zoneinfo import ZoneInfo

                ZoneInfo(sched.cron.timezone)
            except (KeyError, ValueError, OSError, ImportError):
                raise ConnectError(Code.INVALID_ARGUMENT, f"unknown time zone {sched.cron.timezone!r}") from None
    elif kind == "rate" and sched.rate.value <= 0:
        raise ConnectError(Code.INVALID_ARGUMENT, "a fixed rate needs a positive value")


class Scheduler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self._task: asyncio.Task | None = None

    # -- storage -------------------------------------------------------------------
    def get(self, key: tuple):
        return self.store.one(
            "SELECT details, revision, active, created_at, updated_at, last_fired, org FROM triggers"
            " WHERE project=? AND domain=? AND task_name=? AND name=?", key)

    def details(self, key: tuple) -> tdef.TriggerDetails | None:
        row = self.get(key)
        return tdef.TriggerDetails.FromString(row[0]) if row else None

    def deploy(self, name: identifier_pb2.TriggerName, spec: tdef.TriggerSpec, auto, description: str = "") -> tdef.TriggerDetails:
        key = _key(name)
        self.engine.require_project(name.project, name.domain)
        if not self.store.one("SELECT 1 FROM tasks WHERE project=? AND domain=? AND name=?",
                              (name.project, name.domain, name.task_name)):
            raise not_found(f"task {name.task_name!r}")
        validate_schedule(auto)
        now = time.time()
        row = self.get(key)
        revision = (row[1] + 1) if row else 1
        det = tdef.TriggerDetails(spec=spec, automation_spec=auto)
        det.id.name.CopyFrom(name)
        det.id.revision = revision
        if description or spec.description:
            det.description = description or spec.description
        det.status.deployed_at.CopyFrom(ts(row[3] if row else now))
        det.status.updated_at.CopyFrom(ts(now))
        if row and row[5]:
            det.status.triggered_at.CopyFrom(ts(row[5]))
        self.store.execute(
            "INSERT OR REPLACE INTO triggers (project, domain, task_name, name, org, revision, active, created_at,"
            " updated_at, last_fired, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, name.org, revision, int(spec.active), row[3] if row else now, now,
             row[5] if row else None, det.SerializeToString()),
        )
        self._revision(key, revision, tdef.TRIGGER_REVISION_ACTION_DEPLOY, now, det)
        return det

    def _revision(self, key, revision, action, now, det: tdef.TriggerDetails) -> None:
        # Each revision keeps its own details, so GetTriggerRevisionDetails can answer for it.
        self.store.execute(
            "INSERT OR REPLACE INTO trigger_revisions (project, domain, task_name, name, revision, action, created_at,"
            " details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*key, revision, action, now, det.SerializeToString()))

    def revision_details(self, key: tuple, revision: int) -> tdef.TriggerDetails | None:
        """The details as of ``revision`` (0: the latest)."""
        if not revision:
            return self.details(key)
        row = self.store.one("SELECT details FROM trigger_revisions WHERE project=? AND domain=? AND task_name=?"
                             " AND name=? AND revision=?", (*key, revision))
        return tdef.TriggerDetails.FromString(row[0]) if row and row[0] else None

    def set_active(self, key: tuple, active: bool) -> None:
        row = self.get(key)
        if row is None:
            raise not_found(f"trigger {key[3]!r}")
        det = tdef.TriggerDetails.FromString(row[0])
        now = time.time()
        det.spec.active = active
        det.id.revision = row[1] + 1
        det.status.updated_at.CopyFrom(ts(now))
        self.store.execute(
            "UPDATE triggers SET active=?, revision=?, updated_at=?, details=? WHERE project=? AND domain=?"
            " AND task_name=? AND name=?", (int(active), row[1] + 1, now, det.SerializeToString(), *key))
        self._revision(key, row[1] + 1, tdef.TRIGGER_REVISION_ACTION_ACTIVATE if active
                       else tdef.TRIGGER_REVISION_ACTION_DEACTIVATE, now, det)

    def delete(self, key: tuple) -> None:
        if self.get(key) is None:
            raise not_found(f"trigger {key[3]!r}")
        self.store.execute("DELETE FROM triggers WHERE project=? AND domain=? AND task_name=? AND name=?", key)

    def deploy_task_triggers(self, task_id, triggers) -> None:
        """DeployTask(triggers=[...]): upsert each as a trigger pinned to this task version."""
        for tt in triggers:
            name = identifier_pb2.TriggerName(org=task_id.org, project=task_id.project, domain=task_id.domain,
                                              name=tt.name, task_name=task_id.name)
            spec = tdef.TriggerSpec(active=tt.spec.active, run_spec=tt.spec.run_spec, task_version=task_id.version,
                                    description=tt.spec.description)
            if tt.spec.WhichOneof("input_wrapper") == "inputs":
                spec.inputs.CopyFrom(tt.spec.inputs)
            elif tt.spec.WhichOneof("input_wrapper") == "offloaded_input_data":
                spec.offloaded_input_data.CopyFrom(tt.spec.offloaded_input_data)
            self.deploy(name, spec, tt.automation_spec)

    # -- firing --------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
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
        rows = self.store.all(
            "SELECT project, domain, task_name, name, details, updated_at, last_fired, org FROM triggers WHERE active=1")
        for project, domain, task_name, name, blob, updated_at, last_fired, org in rows:
            det = tdef.TriggerDetails.FromString(blob)
            after = last_fired if last_fired else updated_at
            due = next_fire(det, after, updated_at)
            if due is None or due > now:
                continue
            key = (project, domain, task_name, name)
            self.store.execute(
                "UPDATE triggers SET last_fired=? WHERE project=? AND domain=? AND task_name=? AND name=?", (due, *key))
            try:
                await self._fire(det, org, key, due)
                fired += 1
            except Exception:
                log.exception("trigger %s failed to create a run", name)
        return fired

    async def _fire(self, det: tdef.TriggerDetails, org: str, key: tuple, due: float) -> None:
        project, domain, task_name, name = key
        req = run_service_pb2.CreateRunRequest(
            project_id=identifier_pb2.ProjectIdentifier(organization=org, name=project, domain=domain),
            trigger_name=identifier_pb2.TriggerName(org=org, project=project, domain=domain, name=name, task_name=task_name),
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
        await self.engine.create_run(req)
        row = self.get(key)
        if row:
            d = tdef.TriggerDetails.FromString(row[0])
            d.status.triggered_at.CopyFrom(ts(due))
            self.store.execute(
                "UPDATE triggers SET details=? WHERE project=? AND domain=? AND task_name=? AND name=?",
                (d.SerializeToString(), *key))


class TriggerServiceImpl(TriggerService):
    def __init__(self, engine: Engine, scheduler: Scheduler) -> None:
        self.engine = engine
        self.scheduler = scheduler

    async def deploy_trigger(self, request, ctx):
        key = _key(request.name)
        row = self.scheduler.get(key)
        if request.revision and row is not None and request.revision != row[1]:
            raise ConnectError(Code.ABORTED, f"trigger {key[3]!r} is at revision {row[1]}, not {request.revision}")
        det = self.scheduler.deploy(request.name, request.spec, request.automation_spec)
        return tsvc.DeployTriggerResponse(trigger=det)

    async def get_trigger_details(self, request, ctx):
        det = self.scheduler.details(_key(request.name))
        if det is None:
            raise not_found(f"trigger {request.name.name!r}")
        return tsvc.GetTriggerDetailsResponse(trigger=det)

    async def get_trigger_revision_details(self, request, ctx):
        det = self.scheduler.revision_details(_key(request.id.name), request.id.revision)
        if det is None:
            raise not_found(f"trigger {request.id.name.name!r} revision {request.id.revision}")
        return tsvc.GetTriggerRevisionDetailsResponse(trigger=det)

    async def list_triggers(self, request, ctx):
        lr, page = list_page(request)
        conds = []
        scope = request.WhichOneof("scope_by")
        if scope == "project_id":
            conds = [("project", request.project_id.name), ("domain", request.project_id.domain)]
        elif scope in ("task_id", "task_name"):
            t = getattr(request, scope)
            conds = [("project", t.project), ("domain", t.domain), ("task_name", t.name)]
        sql, args = select_where("SELECT details, active, updated_at FROM triggers", conds)
        rows = self.engine.store.all(sql + " ORDER BY updated_at DESC", args)
        if sort_keys(lr):
            rows = apply_sort(rows, sort_keys(lr), {"updated_at": lambda r: r[2], "created_at": lambda r: r[2]})
        window = rows[page.offset : page.offset + page.limit]
        out = []
        for blob, active, _ in window:
            d = tdef.TriggerDetails.FromString(blob)
            out.append(tdef.Trigger(id=d.id, metadata=d.metadata, status=d.status, active=bool(active),
                                    automation_spec=d.automation_spec))
        return tsvc.ListTriggersResponse(triggers=out, token=page.token_after(len(window), len(rows)))

    async def get_trigger_revision_history(self, request, ctx):
        key = _key(request.name)
        _, page = list_page(request)
        rows = self.engine.store.all(
            "SELECT revision, action, created_at FROM trigger_revisions WHERE project=? AND domain=? AND task_name=?"
            " AND name=? ORDER BY revision DESC", key)
        if not rows:
            raise not_found(f"trigger {key[3]!r}")
        window = rows[page.offset : page.offset + page.limit]
        resp = tsvc.GetTriggerRevisionHistoryResponse(token=page.token_after(len(window), len(rows)))
        for revision, action, created in window:
            rev = resp.triggers.add(action=action)
            rev.id.name.CopyFrom(request.name)
            rev.id.revision = revision
            rev.created_at.CopyFrom(ts(created))
        return resp

    # All or nothing: every name is checked before any trigger changes (no await in
    # between, so nothing else on the loop can slip in), so INVALID_ARGUMENT or
    # NOT_FOUND leaves every trigger as it was.
    def _existing_keys(self, names) -> list[tuple]:
        keys = [_key(name) for name in names]
        for key in keys:
            if self.scheduler.get(key) is None:
                raise not_found(f"trigger {key[3]!r}")
        return list(dict.fromkeys(keys))

    async def update_triggers(self, request, ctx):
        for key in self._existing_keys(request.names):
            self.scheduler.set_active(key, request.active)
        return tsvc.UpdateTriggersResponse()

    async def delete_triggers(self, request, ctx):
        for key in self._existing_keys(request.names):
            self.scheduler.delete(key)
        return tsvc.DeleteTriggersResponse()
