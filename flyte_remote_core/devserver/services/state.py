"""StateService: what a parent task's runtime watches (its children's phases and outputs).

``Watch(parent_action_id)`` sends one ``ActionUpdate`` per existing child, then a sentinel
(``control_message.sentinel``: the snapshot is complete), then an update each time a child
changes phase or attempt; it never ends on its own. ``Get`` and ``Put`` keep no state here
(the devserver keeps no per-action state blobs): ``Get`` answers NOT_FOUND for an unknown action.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from connectrpc.request import RequestContext
from flyteidl2.core import execution_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import state_service_pb2 as ss
from flyteidl2.workflow.state_service_connect import StateService

from ..engine.actions import ActionStore
from ..engine.attempts import Attempts
from ..engine.events import Hub, run_topic
from ..engine.model import KIND_SYSTEM, SUCCEEDED, ActionKey, not_found


def action_update(det: rd.ActionDetails, attempts: Attempts) -> ss.ActionUpdate:
    """A child's state as its parent's runtime reads it (``output_uri``: the output prefix)."""
    upd = ss.ActionUpdate(action_id=det.id, phase=det.status.phase)
    if det.HasField("error_info"):
        e = det.error_info
        kind = execution_pb2.ExecutionError.SYSTEM if e.kind == KIND_SYSTEM else execution_pb2.ExecutionError.USER
        upd.error.CopyFrom(execution_pb2.ExecutionError(code=e.code, message=e.message, kind=kind))
    if det.status.phase == SUCCEEDED:
        if det.metadata.HasField("trace") and det.attempts and det.attempts[-1].outputs.output_uri:
            upd.output_uri = det.attempts[-1].outputs.output_uri.removesuffix("/outputs.pb")
        else:
            key = ActionKey.of(det.id).tuple()
            upd.output_uri = str(attempts.attempt_dir(key, det.status.attempts))
    return upd


@dataclass(eq=False)
class StateServiceImpl(StateService):
    actions: ActionStore
    attempts: Attempts
    hub: Hub

    async def put(self, request: ss.PutRequest, ctx: RequestContext) -> ss.PutResponse:
        key = ActionKey.of(request.action_id).tuple()
        det = self.actions.get_action(key)
        if det is None:
            raise not_found(f"action {'/'.join(key)}")
        return ss.PutResponse(action_id=request.action_id, status=det.status)

    async def get(self, request: ss.GetRequest, ctx: RequestContext) -> ss.GetResponse:
        key = ActionKey.of(request.action_id).tuple()
        det = self.actions.get_action(key)
        if det is None:
            raise not_found(f"action {'/'.join(key)}")
        return ss.GetResponse(action_id=request.action_id, status=det.status)

    async def watch(self, request: ss.WatchRequest, ctx: RequestContext) -> AsyncIterator[ss.WatchResponse]:
        parent = ActionKey.of(request.parent_action_id).tuple()
        if self.actions.get_action(parent) is None:
            raise not_found(f"action {'/'.join(parent)}")
        seen: dict[str, tuple[int, int]] = {}
        with self.hub.subscribe(run_topic(*parent[:3])) as sub:
            for upd in self._changes(parent, seen):
                yield ss.WatchResponse(action_update=upd)
            yield ss.WatchResponse(control_message=ss.ControlMessage(sentinel=True))
            while True:
                await sub.wait()
                for upd in self._changes(parent, seen):
                    yield ss.WatchResponse(action_update=upd)

    def _changes(self, parent: tuple[str, str, str, str], seen: dict[str, tuple[int, int]]) -> list[ss.ActionUpdate]:
        out = []
        for child in self.attempts.children(parent):
            state = (child.status.phase, child.status.attempts)
            if seen.get(child.id.name) != state:
                seen[child.id.name] = state
                out.append(action_update(child, self.attempts))
        return out
