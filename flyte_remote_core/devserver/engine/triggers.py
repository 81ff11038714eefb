"""Triggers in the store: deploy (with revisions), activate, delete, and the queries on them.

A trigger is deployed with DeployTrigger or with the ``triggers`` of DeployTask. Every
deploy, activation and deactivation is a new revision that keeps its own details.
The :mod:`.scheduler` fires the active ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2
from flyteidl2.task import common_pb2, task_definition_pb2
from flyteidl2.trigger import trigger_definition_pb2 as tdef

from .catalog import Catalog
from .listing import select_where
from .model import not_found, ts
from .store import Row, Store

TriggerKey = tuple[str, str, str, str]  # (project, domain, task name, trigger name)


def trigger_key(name: identifier_pb2.TriggerName) -> TriggerKey:
    if not name.name or not name.task_name:
        raise ConnectError(Code.INVALID_ARGUMENT, "trigger name needs a name and a task_name")
    return (name.project, name.domain, name.task_name, name.name)


def validate_schedule(auto: common_pb2.TriggerAutomationSpec) -> None:
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
                ZoneInfo(sched.cron.timezone)
            except (KeyError, ValueError, OSError, ImportError):
                raise ConnectError(Code.INVALID_ARGUMENT, f"unknown time zone {sched.cron.timezone!r}") from None
    elif kind == "rate" and sched.rate.value <= 0:
        raise ConnectError(Code.INVALID_ARGUMENT, "a fixed rate needs a positive value")


@dataclass(eq=False)
class TriggerBook:
    store: Store
    catalog: Catalog  # a trigger's project and task must exist

    # ------------------------------------------------------------------ reading
    def _row(self, key: TriggerKey) -> Row | None:
        return self.store.one(
            "SELECT details, revision, active, created_at, updated_at, last_fired, org FROM triggers"
            " WHERE project=? AND domain=? AND task_name=? AND name=?", key)  # fmt: skip

    def exists(self, key: TriggerKey) -> bool:
        return self._row(key) is not None

    def revision(self, key: TriggerKey) -> int | None:
        row = self._row(key)
        return int(row[1]) if row else None

    def details(self, key: TriggerKey) -> tdef.TriggerDetails | None:
        row = self._row(key)
        return tdef.TriggerDetails.FromString(row[0]) if row else None

    def revision_details(self, key: TriggerKey, revision: int) -> tdef.TriggerDetails | None:
        """The details as of ``revision`` (0: the latest)."""
        if not revision:
            return self.details(key)
        row = self.store.one("SELECT details FROM trigger_revisions WHERE project=? AND domain=? AND task_name=?"
                             " AND name=? AND revision=?", (*key, revision))  # fmt: skip
        return tdef.TriggerDetails.FromString(row[0]) if row and row[0] else None

    def rows(self, conditions: Iterable[tuple[str, Any]]) -> list[Row]:
        """``(details, active, updated_at)`` of the triggers matching ``column=value``, latest change first."""
        sql, args = select_where("SELECT details, active, updated_at FROM triggers", conditions)
        return self.store.all(sql + " ORDER BY updated_at DESC", args)

    def revision_rows(self, key: TriggerKey) -> list[Row]:
        """``(revision, action, created_at)`` of every revision of the trigger, newest first."""
        return self.store.all(
            "SELECT revision, action, created_at FROM trigger_revisions WHERE project=? AND domain=? AND task_name=?"
            " AND name=? ORDER BY revision DESC", key)  # fmt: skip

    def active(self) -> list[Row]:
        """``(project, domain, task_name, name, details, updated_at, last_fired, org)`` of the active triggers."""
        return self.store.all(
            "SELECT project, domain, task_name, name, details, updated_at, last_fired, org FROM triggers WHERE active=1"
        )

    # ------------------------------------------------------------------ writing
    def deploy(
        self,
        name: identifier_pb2.TriggerName,
        spec: tdef.TriggerSpec,
        auto: common_pb2.TriggerAutomationSpec,
        description: str = "",
    ) -> tdef.TriggerDetails:
        key = trigger_key(name)
        self.catalog.require_project(name.project, name.domain)
        if not self.catalog.has_task(name.project, name.domain, name.task_name):
            raise not_found(f"task {name.task_name!r}")
        validate_schedule(auto)
        now = time.time()
        row = self._row(key)
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
        )  # fmt: skip
        self._revision(key, revision, tdef.TRIGGER_REVISION_ACTION_DEPLOY, now, det)
        return det

    def _revision(self, key: TriggerKey, revision: int, action: int, now: float, det: tdef.TriggerDetails) -> None:
        # Each revision keeps its own details, so GetTriggerRevisionDetails can answer for it.
        self.store.execute(
            "INSERT OR REPLACE INTO trigger_revisions (project, domain, task_name, name, revision, action, created_at,"
            " details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, revision, action, now, det.SerializeToString()),
        )

    def set_active(self, key: TriggerKey, active: bool) -> None:
        row = self._row(key)
        if row is None:
            raise not_found(f"trigger {key[3]!r}")
        det = tdef.TriggerDetails.FromString(row[0])
        now = time.time()
        det.spec.active = active
        det.id.revision = row[1] + 1
        det.status.updated_at.CopyFrom(ts(now))
        self.store.execute(
            "UPDATE triggers SET active=?, revision=?, updated_at=?, details=? WHERE project=? AND domain=?"
            " AND task_name=? AND name=?",
            (int(active), row[1] + 1, now, det.SerializeToString(), *key),
        )
        self._revision(key, row[1] + 1, tdef.TRIGGER_REVISION_ACTION_ACTIVATE if active
                       else tdef.TRIGGER_REVISION_ACTION_DEACTIVATE, now, det)  # fmt: skip

    def delete(self, key: TriggerKey) -> None:
        if self._row(key) is None:
            raise not_found(f"trigger {key[3]!r}")
        self.store.execute("DELETE FROM triggers WHERE project=? AND domain=? AND task_name=? AND name=?", key)

    def deploy_task_triggers(
        self, task_id: task_definition_pb2.TaskIdentifier, triggers: Iterable[task_definition_pb2.TaskTrigger]
    ) -> None:
        """DeployTask(triggers=[...]): upsert each as a trigger pinned to this task version."""
        for tt in triggers:
            name = identifier_pb2.TriggerName(org=task_id.org, project=task_id.project, domain=task_id.domain,
                                              name=tt.name, task_name=task_id.name)  # fmt: skip
            spec = tdef.TriggerSpec(active=tt.spec.active, run_spec=tt.spec.run_spec, task_version=task_id.version,
                                    description=tt.spec.description)  # fmt: skip
            if tt.spec.WhichOneof("input_wrapper") == "inputs":
                spec.inputs.CopyFrom(tt.spec.inputs)
            elif tt.spec.WhichOneof("input_wrapper") == "offloaded_input_data":
                spec.offloaded_input_data.CopyFrom(tt.spec.offloaded_input_data)
            self.deploy(name, spec, tt.automation_spec)

    def mark_fired(self, key: TriggerKey, due: float) -> None:
        self.store.execute(
            "UPDATE triggers SET last_fired=? WHERE project=? AND domain=? AND task_name=? AND name=?", (due, *key)
        )

    def set_triggered_at(self, key: TriggerKey, due: float) -> None:
        row = self._row(key)
        if row:
            d = tdef.TriggerDetails.FromString(row[0])
            d.status.triggered_at.CopyFrom(ts(due))
            self.store.execute(
                "UPDATE triggers SET details=? WHERE project=? AND domain=? AND task_name=? AND name=?",
                (d.SerializeToString(), *key))  # fmt: skip
