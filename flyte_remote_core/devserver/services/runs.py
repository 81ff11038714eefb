"""RunService: runs, actions and their watch streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.common import identifier_pb2, list_pb2, phase_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow.run_service_connect import RunService

from ..engine.actions import ActionStore
from ..engine.attempts import Attempts
from ..engine.catalog import Catalog
from ..engine.events import RUNS_TOPIC, Hub, action_topic, run_topic
from ..engine.listing import Fields, apply_filters, apply_sort, list_page, sort_keys
from ..engine.model import (
    ROOT_ACTION,
    TERMINAL_PHASES,
    ActionKey,
    Key,
    action_from_details,
    not_found,
    run_from_details,
)
from ..engine.runs import RunCreator

WATCH_RUNS_INITIAL = 100
WATCH_RUNS_BATCH = 100  # runs per WatchRuns message after the first, as the real backend's pages
T = TypeVar("T")


def _phase_value(v: str) -> str:
    v = v.strip()
    if v.isdigit():
        return v
    name = v.upper()
    if not name.startswith("ACTION_PHASE_"):
        name = "ACTION_PHASE_" + name
    try:
        return str(phase_pb2.ActionPhase.Value(name))
    except ValueError:
        raise ConnectError(Code.INVALID_ARGUMENT, f"unknown phase {v!r}") from None


def normalize_phase_filters(filters: Iterable[list_pb2.Filter]) -> list[list_pb2.Filter]:
    """Phase filters name phases ("SUCCEEDED", "ACTION_PHASE_SUCCEEDED" or the number): compare numbers."""
    out = []
    for f in filters:
        if f.field.rsplit(".", 1)[-1] == "phase":
            f2 = type(f)()
            f2.CopyFrom(f)
            del f2.values[:]
            f2.values.extend(_phase_value(v) for v in f.values)
            out.append(f2)
        else:
            out.append(f)
    return out


# run rows: (project, domain, name, phase, created_at, updated_at, task_name, task_version, trigger_name, org)
_RUN_FIELDS: Fields = {
    "name": lambda r: r[2],
    "run_name": lambda r: r[2],
    "phase": lambda r: r[3],
    "created_at": lambda r: r[4],
    "start_time": lambda r: r[4],
    "updated_at": lambda r: r[5],
    "task_name": lambda r: r[6],
    "task_version": lambda r: r[7],
    "version": lambda r: r[7],
    "trigger_name": lambda r: r[8],
    "project": lambda r: r[0],
    "domain": lambda r: r[1],
}


def has_started(det: rd.ActionDetails) -> bool:
    """False while a run's root action has never left its first QUEUED phase.

    Like the open-source backend, WatchRuns announces a new run only from its first phase
    change (a retry that goes back to QUEUED has changed phase before, so it counts).
    """
    return det.status.phase != phase_pb2.ACTION_PHASE_QUEUED or det.status.attempts > 1


@dataclass(eq=False)
class RunServiceImpl(RunService):
    runs: RunCreator
    actions: ActionStore
    attempts: Attempts
    catalog: Catalog
    hub: Hub

    def _require_run(self, r: identifier_pb2.RunIdentifier) -> None:
        """NOT_FOUND unless run ``r`` exists."""
        if self.actions.get_run_spec(r.project, r.domain, r.name) is None:
            raise not_found(f"run {r.project}/{r.domain}/{r.name}")

    @staticmethod
    def _action(action_id: identifier_pb2.ActionIdentifier, lookup: Callable[[Key], T | None]) -> T:
        """``lookup(key)`` for ``action_id``; NOT_FOUND when it returns None."""
        key = ActionKey.of(action_id).tuple()
        found = lookup(key)
        if found is None:
            raise not_found(f"action {'/'.join(key)}")
        return found

    # -- unary ---------------------------------------------------------------------------
    async def create_run(self, request: rs.CreateRunRequest, ctx: RequestContext) -> rs.CreateRunResponse:
        run = await self.runs.create_run(request)
        return rs.CreateRunResponse(run=run)

    async def abort_run(self, request: rs.AbortRunRequest, ctx: RequestContext) -> rs.AbortRunResponse:
        r = request.run_id
        reason = request.reason if request.HasField("reason") else ""
        self._require_run(r)
        for det in self.actions.list_actions(r.project, r.domain, r.name):
            self.attempts.abort((r.project, r.domain, r.name, det.id.name), reason)
        return rs.AbortRunResponse()

    async def abort_action(self, request: rs.AbortActionRequest, ctx: RequestContext) -> rs.AbortActionResponse:
        key = ActionKey.of(request.action_id).tuple()
        if not self.attempts.abort(key, request.reason):
            raise not_found(f"action {'/'.join(key)}")
        return rs.AbortActionResponse()

    async def get_run_details(self, request: rs.GetRunDetailsRequest, ctx: RequestContext) -> rs.GetRunDetailsResponse:
        r = request.run_id
        details = self.actions.get_run_details(r.project, r.domain, r.name)
        if details is None:
            raise not_found(f"run {r.project}/{r.domain}/{r.name}")
        return rs.GetRunDetailsResponse(details=details)

    async def get_action_details(
        self, request: rs.GetActionDetailsRequest, ctx: RequestContext
    ) -> rs.GetActionDetailsResponse:
        return rs.GetActionDetailsResponse(details=self._action(request.action_id, self.actions.get_action))

    async def get_action_data(self, request: rs.GetActionDataRequest, ctx: RequestContext) -> rs.GetActionDataResponse:
        inputs, outputs, _, _ = self._action(request.action_id, self.actions.action_data)
        return rs.GetActionDataResponse(inputs=inputs, outputs=outputs)

    async def get_action_data_u_r_is(
        self, request: rs.GetActionDataURIsRequest, ctx: RequestContext
    ) -> rs.GetActionDataURIsResponse:
        inputs_uri, outputs_uri = self._action(request.action_id, self.actions.action_uris)
        self.actions.inputs.materialize(inputs_uri)  # the URI is handed out: its file must be there
        return rs.GetActionDataURIsResponse(inputs_uri=inputs_uri, outputs_uri=outputs_uri)

    @staticmethod
    def _run_scope(request: rs.ListRunsRequest) -> list[tuple[str, str]]:
        """The ``column=value`` pairs that the request's scope selects runs by."""
        scope = request.WhichOneof("scope_by")
        if scope == "project_id":
            return [("project", request.project_id.name), ("domain", request.project_id.domain)]
        if scope == "trigger_name":
            t = request.trigger_name
            return [("project", t.project), ("domain", t.domain), ("trigger_name", t.name), ("task_name", t.task_name)]
        if scope in ("task_name", "task_id"):
            tn = request.task_name if scope == "task_name" else request.task_id
            conds = [("project", tn.project), ("domain", tn.domain), ("task_name", tn.name)]
            if scope == "task_id" and request.task_id.version:
                conds.append(("task_version", request.task_id.version))
            return conds
        return []

    async def list_runs(self, request: rs.ListRunsRequest, ctx: RequestContext) -> rs.ListRunsResponse:
        lr, page = list_page(request)
        # An empty project or domain matches all.
        scope, skip_empty = self._run_scope(request), request.WhichOneof("scope_by") == "project_id"
        if not request.paused_actions_only and (lr is None or not (lr.filters or sort_keys(lr))):
            # The default order: only the page is read (see ActionStore.run_page).
            rows, more = self.actions.run_page(scope, skip_empty=skip_empty, offset=page.offset, limit=page.limit)
            token = str(page.offset + len(rows)) if more else ""
            return rs.ListRunsResponse(runs=self._runs_of(rows), token=token)
        rows = self.actions.run_rows(scope, skip_empty=skip_empty)
        if lr is not None:
            rows = apply_filters(rows, normalize_phase_filters(lr.filters), _RUN_FIELDS)
        if request.paused_actions_only:
            rows = [r for r in rows if r[3] == phase_pb2.ACTION_PHASE_PAUSED]
        sorts = sort_keys(lr)
        if sorts:
            rows = apply_sort(rows, sorts, _RUN_FIELDS)
        else:  # active runs first, newest first
            rows.sort(key=lambda r: (r[3] in TERMINAL_PHASES, -r[4]))
        window = rows[page.offset : page.offset + page.limit]
        return rs.ListRunsResponse(runs=self._runs_of(window), token=page.token_after(len(window), len(rows)))

    def _runs_of(self, rows: Iterable[Any]) -> list[rd.Run]:
        runs = []
        for r in rows:
            det = self.actions.get_action((r[0], r[1], r[2], ROOT_ACTION))
            if det is not None:
                runs.append(run_from_details(det))
        return runs

    async def list_actions(self, request: rs.ListActionsRequest, ctx: RequestContext) -> rs.ListActionsResponse:
        r = request.run_id
        self._require_run(r)
        lr, page = list_page(request)
        dets = self.actions.list_actions(r.project, r.domain, r.name)
        if lr is not None:
            dets = apply_filters(dets, normalize_phase_filters(lr.filters), _ACTION_FIELDS)
            if sort_keys(lr):
                dets = apply_sort(dets, sort_keys(lr), _ACTION_FIELDS)
        window = dets[page.offset : page.offset + page.limit]
        return rs.ListActionsResponse(
            actions=[action_from_details(d) for d in window], token=page.token_after(len(window), len(dets))
        )

    # -- streams ---------------------------------------------------------------------------
    async def watch_action_details(
        self, request: rs.WatchActionDetailsRequest, ctx: RequestContext
    ) -> AsyncIterator[rs.WatchActionDetailsResponse]:
        key = ActionKey.of(request.action_id).tuple()
        with self.hub.subscribe(action_topic(key)) as sub:
            while True:
                det = self.actions.get_action(key)
                if det is None:
                    raise not_found(f"action {'/'.join(key)}")
                yield rs.WatchActionDetailsResponse(details=det)
                if det.status.phase in TERMINAL_PHASES:
                    return
                await sub.wait()

    async def watch_run_details(
        self, request: rs.WatchRunDetailsRequest, ctx: RequestContext
    ) -> AsyncIterator[rs.WatchRunDetailsResponse]:
        r = request.run_id
        with self.hub.subscribe(run_topic(r.project, r.domain, r.name)) as sub:
            while True:
                details = self.actions.get_run_details(r.project, r.domain, r.name)
                if details is None:
                    raise not_found(f"run {r.project}/{r.domain}/{r.name}")
                yield rs.WatchRunDetailsResponse(details=details)
                if details.action.status.phase in TERMINAL_PHASES:
                    return
                await sub.wait()

    async def watch_actions(
        self, request: rs.WatchActionsRequest, ctx: RequestContext
    ) -> AsyncIterator[rs.WatchActionsResponse]:
        r = request.run_id
        self._require_run(r)
        with self.hub.subscribe(run_topic(r.project, r.domain, r.name)) as sub:
            while True:
                dets = self.actions.list_actions(r.project, r.domain, r.name)
                yield rs.WatchActionsResponse(
                    enriched_actions=[rd.EnrichedAction(action=action_from_details(d), meets_filter=True) for d in dets]
                )
                if all(d.status.phase in TERMINAL_PHASES for d in dets):
                    return
                await sub.wait()

    async def watch_runs(
        self, request: rs.WatchRunsRequest, ctx: RequestContext
    ) -> AsyncIterator[rs.WatchRunsResponse]:
        target = request.WhichOneof("target")
        proj = dom = task = version = None
        if target == "project_id":
            proj, dom = request.project_id.name or None, request.project_id.domain or None
        elif target == "task_id":
            t = request.task_id
            proj, dom, task, version = t.project or None, t.domain or None, t.name or None, t.version or None
        if proj and self.catalog.get_project(proj) is None:
            raise not_found(f"project {proj!r}")

        def matches(det: rd.ActionDetails) -> bool:
            rid = det.id.run
            tid = det.metadata.task.id
            return not (
                (proj and rid.project != proj)
                or (dom and rid.domain != dom)
                or (task and tid.name != task)
                or (version and tid.version != version)
            )

        with self.hub.subscribe(RUNS_TOPIC) as sub:
            scope: list[tuple[str, Any]] = [
                ("project", proj), ("domain", dom), ("task_name", task), ("task_version", version)
            ]  # fmt: skip
            first = []
            for p, d, n in self.actions.recent_runs(scope, WATCH_RUNS_INITIAL):
                det = self.actions.get_action((p, d, n, ROOT_ACTION))
                if det is not None:
                    first.append(run_from_details(det))
            yield rs.WatchRunsResponse(runs=first)
            while True:
                changed = await sub.wait()
                runs = []
                for p, d, n in sorted(changed):
                    det = self.actions.get_action((p, d, n, ROOT_ACTION))
                    if det is not None and has_started(det) and matches(det):
                        runs.append(run_from_details(det))
                    if len(runs) == WATCH_RUNS_BATCH:
                        # A burst (thousands of runs ending in one pass) goes out in pieces as it
                        # is read, so the first runs are told while the rest are still being read.
                        yield rs.WatchRunsResponse(runs=runs)
                        runs = []
                if runs:
                    yield rs.WatchRunsResponse(runs=runs)


_ACTION_FIELDS: Fields = {
    "name": lambda d: d.id.name,
    "phase": lambda d: d.status.phase,
    "created_at": lambda d: d.status.start_time.ToNanoseconds(),
    "start_time": lambda d: d.status.start_time.ToNanoseconds(),
}
