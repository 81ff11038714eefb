"""CreateRun: validate the request, resolve the task, store the inputs, insert the run
and its root action ``a0`` (QUEUED, attempts=1), then launch its first attempt.
"""

from __future__ import annotations

import time
from dataclasses import KW_ONLY, dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2
from flyteidl2.task import common_pb2, task_definition_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs

from .actions import ActionStore
from .attempts import Attempts
from .catalog import Catalog
from .holds import Holds
from .inputs import InputStore
from .model import (
    QUEUED,
    ROOT_ACTION,
    generate_run_name,
    not_found,
    run_from_details,
    transition,
    ts,
    validate_run_name,
)
from .triggers import TriggerBook


@dataclass(eq=False)
class RunCreator:
    catalog: Catalog
    actions: ActionStore
    triggers: TriggerBook
    holds: Holds
    attempts: Attempts
    _: KW_ONLY
    inputs: InputStore  # where inputs given inline are kept
    duplicate_run_names: str = "return-existing"  # or "already-exists" (server.config.DUPLICATE_MODES)

    async def create_run(self, req: rs.CreateRunRequest) -> rd.Run:
        """CreateRun: validate, insert run + a0 (QUEUED, attempts=1), start it."""
        project, domain, org, name, generated = self._run_id(req)
        self.catalog.require_project(project, domain)
        # A generated name is new (20 characters from a CSPRNG): only a caller's name is looked up
        # first. Either way, an insert that finds the name taken is answered below.
        existing = None if generated else self.actions.get_run(project, domain, name)
        if existing is not None:
            if self.duplicate_run_names == "already-exists":
                raise ConnectError(Code.ALREADY_EXISTS, f"run {name!r} already exists in {project}/{domain}")
            return existing
        task_id, spec, trigger_name = self._task(req, project, domain, org)
        inputs_uri, inline = self._inputs(req, project, domain)
        now = time.time()
        det = _root_action(req, identifier_pb2.RunIdentifier(org=org, project=project, domain=domain, name=name),
                           task_id, spec, trigger_name, now)  # fmt: skip
        key = (project, domain, name, ROOT_ACTION)
        self.attempts.locate_attempt(key, det)
        inserted = self.actions.insert_run(
            det, task_id=task_id, trigger_name=trigger_name, run_spec=req.run_spec,
            inputs_uri=inputs_uri, inputs=inline, now=now,
        )  # fmt: skip
        if not inserted:  # lost a race with the same name
            if self.duplicate_run_names == "already-exists":
                raise ConnectError(Code.ALREADY_EXISTS, f"run {name!r} already exists")
            found = self.actions.get_run(project, domain, name)
            assert found is not None  # the run that won the race
            return found
        self.holds.on_new_run(name)
        self.actions.publish(key, runs=False)  # WatchRuns shows a new run from its first phase change
        self.attempts.start(key, self.catalog.resolve_target(task_id.name, task_id.version, spec), inputs_uri)
        return run_from_details(det)

    @staticmethod
    def _run_id(req: rs.CreateRunRequest) -> tuple[str, str, str, str, bool]:
        """``(project, domain, org, name, generated)`` of the new run; a name is generated when none is given."""
        which = req.WhichOneof("id")
        if which == "run_id":
            rid = req.run_id
            project, domain, org, name = rid.project, rid.domain, rid.org, rid.name
        elif which == "project_id":
            pid = req.project_id
            project, domain, org, name = pid.name, pid.domain, pid.organization, ""
        else:
            raise ConnectError(Code.INVALID_ARGUMENT, "CreateRun needs run_id or project_id")
        if not project or not domain:
            raise ConnectError(Code.INVALID_ARGUMENT, "CreateRun needs a project and a domain")
        if name:
            validate_run_name(name)
            return project, domain, org, name, False
        return project, domain, org, generate_run_name(), True

    def _task(
        self, req: rs.CreateRunRequest, project: str, domain: str, org: str
    ) -> tuple[task_definition_pb2.TaskIdentifier, task_definition_pb2.TaskSpec, str]:
        """The task to run, its spec, and the trigger's name when a trigger asks."""
        task_kind = req.WhichOneof("task")
        if task_kind == "task_id":
            details = self.catalog.get_task(req.task_id)
            if details is None:
                t = req.task_id
                raise not_found(f"task {t.project}/{t.domain}/{t.name}@{t.version or 'latest'}")
            return details.task_id, details.spec, ""
        if task_kind == "task_spec":
            spec = req.task_spec
            tmpl_id = spec.task_template.id
            task_id = task_definition_pb2.TaskIdentifier(
                org=org, project=project, domain=domain,
                name=tmpl_id.name or spec.short_name or "ephemeral", version=tmpl_id.version or "ephemeral",
            )  # fmt: skip
            return task_id, spec, ""
        if task_kind == "trigger_name":
            tn = req.trigger_name
            trigger = self.triggers.details((tn.project, tn.domain, tn.task_name, tn.name))
            if trigger is None:
                raise not_found(f"trigger {tn.name!r}")
            details = self.catalog.get_task(task_definition_pb2.TaskIdentifier(
                org=tn.org, project=tn.project, domain=tn.domain, name=tn.task_name,
                version=trigger.spec.task_version))  # fmt: skip
            if details is None:
                raise not_found(f"task {tn.task_name!r} of trigger {tn.name!r}")
            return details.task_id, details.spec, tn.name
        raise ConnectError(Code.INVALID_ARGUMENT, "CreateRun needs task_id, task_spec or trigger_name")

    def _inputs(self, req: rs.CreateRunRequest, project: str, domain: str) -> tuple[str, bytes | None]:
        """Where the run's inputs are, and the inline inputs to keep there (None: offloaded)."""
        kind = req.WhichOneof("input_wrapper")
        if kind == "offloaded_input_data":
            if not req.offloaded_input_data.uri:
                raise ConnectError(Code.INVALID_ARGUMENT, "offloaded_input_data.uri is empty")
            return req.offloaded_input_data.uri, None
        data = (req.inputs if kind == "inputs" else common_pb2.Inputs()).SerializeToString(deterministic=True)
        return self.inputs.address(project, domain, data)[0], data


def _root_action(
    req: rs.CreateRunRequest,
    run_id: identifier_pb2.RunIdentifier,
    task_id: task_definition_pb2.TaskIdentifier,
    spec: task_definition_pb2.TaskSpec,
    trigger_name: str,
    now: float,
) -> rd.ActionDetails:
    """The new run's root action ``a0``: QUEUED, first attempt started at ``now``."""
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
    return det
