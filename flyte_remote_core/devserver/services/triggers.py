"""TriggerService: deploy, read, list, activate and delete triggers (the engine's scheduler fires them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.common import identifier_pb2
from flyteidl2.trigger import trigger_definition_pb2 as tdef
from flyteidl2.trigger import trigger_service_pb2 as tsvc
from flyteidl2.trigger.trigger_service_connect import TriggerService

from ..engine.listing import apply_sort, list_page, sort_keys
from ..engine.model import not_found, ts
from ..engine.triggers import TriggerBook, TriggerKey, trigger_key


@dataclass(eq=False)
class TriggerServiceImpl(TriggerService):
    triggers: TriggerBook

    async def deploy_trigger(
        self, request: tsvc.DeployTriggerRequest, ctx: RequestContext
    ) -> tsvc.DeployTriggerResponse:
        key = trigger_key(request.name)
        current = self.triggers.revision(key)
        if request.revision and current is not None and request.revision != current:
            raise ConnectError(Code.ABORTED, f"trigger {key[3]!r} is at revision {current}, not {request.revision}")
        det = self.triggers.deploy(request.name, request.spec, request.automation_spec)
        return tsvc.DeployTriggerResponse(trigger=det)

    async def get_trigger_details(
        self, request: tsvc.GetTriggerDetailsRequest, ctx: RequestContext
    ) -> tsvc.GetTriggerDetailsResponse:
        det = self.triggers.details(trigger_key(request.name))
        if det is None:
            raise not_found(f"trigger {request.name.name!r}")
        return tsvc.GetTriggerDetailsResponse(trigger=det)

    async def get_trigger_revision_details(
        self, request: tsvc.GetTriggerRevisionDetailsRequest, ctx: RequestContext
    ) -> tsvc.GetTriggerRevisionDetailsResponse:
        det = self.triggers.revision_details(trigger_key(request.id.name), request.id.revision)
        if det is None:
            raise not_found(f"trigger {request.id.name.name!r} revision {request.id.revision}")
        return tsvc.GetTriggerRevisionDetailsResponse(trigger=det)

    async def list_triggers(self, request: tsvc.ListTriggersRequest, ctx: RequestContext) -> tsvc.ListTriggersResponse:
        lr, page = list_page(request)
        conds: list[tuple[str, str]] = []
        scope = request.WhichOneof("scope_by")
        if scope == "project_id":
            conds = [("project", request.project_id.name), ("domain", request.project_id.domain)]
        elif scope in ("task_id", "task_name"):
            t = request.task_id if scope == "task_id" else request.task_name
            conds = [("project", t.project), ("domain", t.domain), ("task_name", t.name)]
        rows = self.triggers.rows(conds)
        if sort_keys(lr):
            rows = apply_sort(rows, sort_keys(lr), {"updated_at": lambda r: r[2], "created_at": lambda r: r[2]})
        window = rows[page.offset : page.offset + page.limit]
        out = []
        for blob, active, _ in window:
            d = tdef.TriggerDetails.FromString(blob)
            out.append(tdef.Trigger(id=d.id, metadata=d.metadata, status=d.status, active=bool(active),
                                    automation_spec=d.automation_spec))  # fmt: skip
        return tsvc.ListTriggersResponse(triggers=out, token=page.token_after(len(window), len(rows)))

    async def get_trigger_revision_history(
        self, request: tsvc.GetTriggerRevisionHistoryRequest, ctx: RequestContext
    ) -> tsvc.GetTriggerRevisionHistoryResponse:
        key = trigger_key(request.name)
        _, page = list_page(request)
        rows = self.triggers.revision_rows(key)
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
    def _existing_keys(self, names: Iterable[identifier_pb2.TriggerName]) -> list[TriggerKey]:
        keys = [trigger_key(name) for name in names]
        for key in keys:
            if not self.triggers.exists(key):
                raise not_found(f"trigger {key[3]!r}")
        return list(dict.fromkeys(keys))

    async def update_triggers(
        self, request: tsvc.UpdateTriggersRequest, ctx: RequestContext
    ) -> tsvc.UpdateTriggersResponse:
        for key in self._existing_keys(request.names):
            self.triggers.set_active(key, request.active)
        return tsvc.UpdateTriggersResponse()

    async def delete_triggers(
        self, request: tsvc.DeleteTriggersRequest, ctx: RequestContext
    ) -> tsvc.DeleteTriggersResponse:
        for key in self._existing_keys(request.names):
            self.triggers.delete(key)
        return tsvc.DeleteTriggersResponse()
