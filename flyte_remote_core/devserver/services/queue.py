"""QueueService: a running task enqueues its children (EnqueueAction) and aborts them."""

from __future__ import annotations

from dataclasses import dataclass

from connectrpc.request import RequestContext
from flyteidl2.workflow import queue_service_pb2 as qs
from flyteidl2.workflow.queue_service_connect import QueueService

from ..engine.actions import ActionStore
from ..engine.attempts import Attempts
from ..engine.children import ChildActions
from ..engine.model import ActionKey, not_found


@dataclass(eq=False)
class QueueServiceImpl(QueueService):
    children: ChildActions
    actions: ActionStore
    attempts: Attempts

    async def enqueue_action(self, request: qs.EnqueueActionRequest, ctx: RequestContext) -> qs.EnqueueActionResponse:
        self.children.enqueue(request)
        return qs.EnqueueActionResponse()

    async def abort_queued_run(
        self, request: qs.AbortQueuedRunRequest, ctx: RequestContext
    ) -> qs.AbortQueuedRunResponse:
        r = request.run_id
        if self.actions.get_run_spec(r.project, r.domain, r.name) is None:
            raise not_found(f"run {r.project}/{r.domain}/{r.name}")
        for det in self.actions.list_actions(r.project, r.domain, r.name):
            self.attempts.abort((r.project, r.domain, r.name, det.id.name), request.reason)
        return qs.AbortQueuedRunResponse()

    async def abort_queued_action(
        self, request: qs.AbortQueuedActionRequest, ctx: RequestContext
    ) -> qs.AbortQueuedActionResponse:
        key = ActionKey.of(request.action_id).tuple()
        if not self.attempts.abort(key, request.reason):
            raise not_found(f"action {'/'.join(key)}")
        return qs.AbortQueuedActionResponse()
