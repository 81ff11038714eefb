"""Nested actions: a running task's runtime enqueues its children (QueueService.EnqueueAction).

A child is an action of the parent's run that names its parent; it runs through its own
deployed spec like any attempt (:class:`~.attempts.Attempts`). Enqueueing is idempotent on
the action id: the runtime re-sends after a lost answer, and a retried parent re-enqueues
children whose deterministic names already exist. A trace action (a ``@flyte.trace`` call)
has already run inside its parent: it is recorded as it is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.workflow import queue_service_pb2 as qs
from flyteidl2.workflow import run_definition_pb2 as rd

from .actions import ActionStore
from .attempts import Attempts
from .catalog import Catalog
from .model import QUEUED, ROOT_ACTION, SUCCEEDED, TERMINAL_PHASES, ActionKey, Key, not_found, transition, ts


@dataclass(eq=False)
class ChildActions:
    catalog: Catalog
    actions: ActionStore
    attempts: Attempts

    def enqueue(self, req: qs.EnqueueActionRequest) -> Key:
        """Insert and start the child ``req.action_id`` (nothing happens when it exists already)."""
        key = ActionKey.of(req.action_id).tuple()
        if key[3] == ROOT_ACTION:
            raise ConnectError(Code.INVALID_ARGUMENT, "a nested action cannot be named a0")
        parent_name = req.parent_action_name or ROOT_ACTION
        parent = self.actions.get_action((*key[:3], parent_name))
        if parent is None:
            raise not_found(f"parent action {'/'.join((*key[:3], parent_name))}")
        if self.actions.get_action(key) is not None:
            return key  # idempotent on the action id
        if parent.status.phase in TERMINAL_PHASES:
            raise ConnectError(Code.ABORTED, f"the parent action {parent_name!r} has already ended")
        kind = req.WhichOneof("spec")
        now = time.time()
        det = _child_details(req, parent, now)
        if kind == "trace":
            outputs = req.trace.outputs.output_uri
            self.actions.insert_action(det, inputs_uri=req.input_uri, outputs_uri=_outputs_file(outputs), now=now)
            self.actions.publish(key)
            return key
        if kind != "task":
            raise ConnectError(Code.UNIMPLEMENTED, f"the devserver does not run {kind or 'empty'} actions")
        self.attempts.locate_attempt(key, det)
        if not self.actions.insert_action(det, inputs_uri=req.input_uri, now=now):
            return key  # lost a race with the same id
        self.actions.publish(key)
        tid = req.task.id
        target = self.catalog.resolve_target(tid.name, tid.version, req.task.spec)
        self.attempts.start(key, target, req.input_uri)
        return key


def _outputs_file(prefix: str) -> str:
    if not prefix:
        return ""
    return prefix if prefix.endswith(".pb") else prefix.rstrip("/") + "/outputs.pb"


def _child_details(req: qs.EnqueueActionRequest, parent: rd.ActionDetails, now: float) -> rd.ActionDetails:
    det = rd.ActionDetails()
    det.id.CopyFrom(req.action_id)
    det.id.run.org = det.id.run.org or parent.id.run.org
    md = det.metadata
    md.parent = req.parent_action_name or ROOT_ACTION
    if req.group:
        md.group = req.group
    if req.WhichOneof("spec") == "trace":
        tr = req.trace
        md.action_type = rd.ACTION_TYPE_TRACE
        md.trace.name = tr.name
        md.funtion_name = tr.name
        phase = tr.phase or SUCCEEDED
        det.status.phase = phase
        det.status.attempts = 1
        det.status.start_time.CopyFrom(tr.start_time if tr.HasField("start_time") else ts(now))
        det.status.end_time.CopyFrom(tr.end_time if tr.HasField("end_time") else ts(now))
        att = det.attempts.add(attempt=1, phase=phase)
        att.start_time.CopyFrom(det.status.start_time)
        att.end_time.CopyFrom(det.status.end_time)
        transition(att, phase, now)
        if tr.outputs.output_uri:
            att.outputs.output_uri = _outputs_file(tr.outputs.output_uri)
        return det
    task = req.task
    spec = task.spec
    md.action_type = rd.ACTION_TYPE_TASK
    md.task.id.CopyFrom(task.id)
    md.task.task_type = spec.task_template.type or "python"
    md.task.short_name = spec.short_name or task.id.name.rsplit(".", 1)[-1]
    md.funtion_name = md.task.short_name
    if spec.HasField("environment"):
        md.environment_name = spec.environment.name
    det.status.phase = QUEUED
    det.status.attempts = 1
    det.status.start_time.CopyFrom(ts(now))
    det.task.CopyFrom(spec)
    att = det.attempts.add(attempt=1, phase=QUEUED)
    att.start_time.CopyFrom(ts(now))
    transition(att, QUEUED, now)
    return det
