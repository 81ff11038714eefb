"""Engine mixin for CreateRun: validate the request, resolve the task, store the inputs,
insert the run and its root action ``a0`` (QUEUED, attempts=1), then launch it.
"""

from __future__ import annotations

import time

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2
from flyteidl2.task import common_pb2, task_definition_pb2
from flyteidl2.workflow import run_definition_pb2 as rd

from ._engine_common import (
    QUEUED,
    ROOT_ACTION,
    file_uri,
    generate_run_name,
    not_found,
    run_from_details,
    transition,
    ts,
    validate_run_name,
)


class RunCreationMixin:
    """``create_run``; relies on the catalog, state and execution mixins of :class:`~._engine.Engine`."""

    async def create_run(self, req) -> rd.Run:
        """CreateRun: validate, insert run + a0 (QUEUED, attempts=1), start it."""
        which = req.WhichOneof("id")
        if which == "run_id":
            rid = req.run_id
            project, domain, org, name = rid.project, rid.domain, rid.org, rid.name
            if not name:
                name = generate_run_name()
            else:
                validate_run_name(name)
        elif which == "project_id":
            pid = req.project_id
            project, domain, org, name = pid.name, pid.domain, pid.organization, generate_run_name()
        else:
            raise ConnectError(Code.INVALID_ARGUMENT, "CreateRun needs run_id or project_id")
        if not project or not domain:
            raise ConnectError(Code.INVALID_ARGUMENT, "CreateRun needs a project and a domain")
        self.require_project(project, domain)

        existing = self.get_run(project, domain, name)
        if existing is not None:
            if self.duplicate_run_names == "already-exists":
                raise ConnectError(Code.ALREADY_EXISTS, f"run {name!r} already exists in {project}/{domain}")
            return existing

        # Resolve the task.
        trigger_name = ""
        task_kind = req.WhichOneof("task")
        if task_kind == "task_id":
            details = self.get_task(req.task_id)
            if details is None:
                t = req.task_id
                raise not_found(f"task {t.project}/{t.domain}/{t.name}@{t.version or 'latest'}")
            task_id, spec = details.task_id, details.spec
        elif task_kind == "task_spec":
            spec = req.task_spec
            tmpl_id = spec.task_template.id
            task_id = task_definition_pb2.TaskIdentifier(
                org=org, project=project, domain=domain,
                name=tmpl_id.name or spec.short_name or "ephemeral", version=tmpl_id.version or "ephemeral",
            )
        elif task_kind == "trigger_name":
            tn = req.trigger_name
            trig = self.store.one(
                "SELECT details FROM triggers WHERE project=? AND domain=? AND task_name=? AND name=?",
                (tn.project, tn.domain, tn.task_name, tn.name),
            )
            if trig is None:
                raise not_found(f"trigger {tn.name!r}")
            from flyteidl2.trigger import trigger_definition_pb2

            tdet = trigger_definition_pb2.TriggerDetails.FromString(trig[0])
            details = self.get_task(task_definition_pb2.TaskIdentifier(
                org=tn.org, project=tn.project, domain=tn.domain, name=tn.task_name, version=tdet.spec.task_version))
            if details is None:
                raise not_found(f"task {tn.task_name!r} of trigger {tn.name!r}")
            task_id, spec = details.task_id, details.spec
            trigger_name = tn.name
        else:
            raise ConnectError(Code.INVALID_ARGUMENT, "CreateRun needs task_id, task_spec or trigger_name")

        # Inputs.
        run_dir = self.storage_dir / "runs" / project / domain / name
        kind = req.WhichOneof("input_wrapper")
        if kind == "offloaded_input_data":
            inputs_uri = req.offloaded_input_data.uri
            if not inputs_uri:
                raise ConnectError(Code.INVALID_ARGUMENT, "offloaded_input_data.uri is empty")
        else:
            inputs = req.inputs if kind == "inputs" else common_pb2.Inputs()
            run_dir.mkdir(parents=True, exist_ok=True)
            path = run_dir / "inputs.pb"
            path.write_bytes(inputs.SerializeToString(deterministic=True))
            inputs_uri = file_uri(path)

        now = time.time()
        run_id = identifier_pb2.RunIdentifier(org=org, project=project, domain=domain, name=name)
        det = rd.ActionDetails()
        det.id.run.CopyFrom(run_id)
        det.id.name = ROOT_ACTION
        md = det.metadata
        md.action_type = rd.ACTION_TYPE_TASK
        md.task.id.CopyFrom(task_id)
        md.task.task_type = spec.task_template.type or "python"
        md.task.short_name = spec.short_name or task_id.name.rsplit(".", 1)[-1]
        md.funtion_name = md.task.short_name
        if spec.HasField("environment"):
            md.environment_name = spec.environment.name
        if trigger_name:
            md.trigger_name = trigger_name
            md.source = rd.RUN_SOURCE_SCHEDULE_TRIGGER
        elif req.source:
            md.source = req.source
        det.status.phase = QUEUED
        det.status.attempts = 1
        det.status.start_time.CopyFrom(ts(now))
        det.task.CopyFrom(spec)
        att = det.attempts.add(attempt=1, phase=QUEUED)
        att.start_time.CopyFrom(ts(now))
        transition(att, QUEUED, now)
        run_spec = req.run_spec

        try:
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO runs (project, domain, name, org, created_at, updated_at, phase, task_name, task_version,"
                    " trigger_name, run_spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, domain, name, org, now, now, QUEUED, task_id.name, task_id.version, trigger_name,
                     run_spec.SerializeToString()),
                )
                db.execute(
                    "INSERT INTO actions (project, domain, run, name, created_at, updated_at, phase, inputs_uri,"
                    " outputs_uri, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, domain, name, ROOT_ACTION, now, now, QUEUED, inputs_uri, "", det.SerializeToString()),
                )
        except Exception as e:
            import sqlite3

            if isinstance(e, sqlite3.IntegrityError):  # lost a race with the same name
                if self.duplicate_run_names == "already-exists":
                    raise ConnectError(Code.ALREADY_EXISTS, f"run {name!r} already exists") from e
                return self.get_run(project, domain, name)
            raise
        if self.control.hold_all:
            self.control.held.add(name)
        key = (project, domain, name, ROOT_ACTION)
        self._publish(key, runs=False)  # WatchRuns shows a new run from its first phase change
        target = self.resolve_target(task_id.name, task_id.version, spec)
        self._spawn(self._launch(key, target, inputs_uri))
        return run_from_details(det)
