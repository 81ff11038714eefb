"""RunService: runs, actions and their watch streams."""

from __future__ import annotations

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import phase_pb2
from flyteidl2.task import common_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow.run_service_connect import RunService

from ._engine import ROOT_ACTION, ActionKey, Engine, action_from_details, not_found, run_from_details, uri_to_path
from ._engine_query import list_page, select_where
from ._listing import apply_filters, apply_sort, sort_keys
from ._store import TERMINAL_PHASES

WATCH_RUNS_INITIAL = 100


def read_inputs(uri: str) -> common_pb2.Inputs:
    path = uri_to_path(uri) if uri else None
    if path is None or not path.exists():
        return common_pb2.Inputs()
    return common_pb2.Inputs.FromString(path.read_bytes())


def read_outputs(uri: str) -> common_pb2.Outputs:
    path = uri_to_path(uri) if uri else None
    if path is None or not path.exists():
        return common_pb2.Outputs()
    return common_pb2.Outputs.FromString(path.read_bytes())


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


def normalize_phase_filters(filters):
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
_RUN_FIELDS = {
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


class RunServiceImpl(RunService):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.hub = engine.hub

    def _require_run(self, r) -> None:
        """NOT_FOUND unless run ``r`` (a RunIdentifier) exists."""
        if self.engine.get_run_spec(r.project, r.domain, r.name) is None:
            raise not_found(f"run {r.project}/{r.domain}/{r.name}")

    def _action(self, request, lookup):
        """``lookup(key)`` for the request's ``action_id``; NOT_FOUND when it returns None."""
        key = ActionKey.of(request.action_id).tuple()
        found = lookup(key)
        if found is None:
            raise not_found(f"action {'/'.join(key)}")
        return found

    # -- unary ---------------------------------------------------------------------------
    async def create_run(self, request, ctx):
        run = await self.engine.create_run(request)
        return rs.CreateRunResponse(run=run)

    async def abort_run(self, request, ctx):
        r = request.run_id
        reason = request.reason if request.HasField("reason") else ""
        self._require_run(r)
        for det in self.engine.list_actions(r.project, r.domain, r.name):
            self.engine.abort((r.project, r.domain, r.name, det.id.name), reason)
        return rs.AbortRunResponse()

    async def abort_action(self, request, ctx):
        key = ActionKey.of(request.action_id).tuple()
        if not self.engine.abort(key, request.reason):
            raise not_found(f"action {'/'.join(key)}")
        return rs.AbortActionResponse()

    async def get_run_details(self, request, ctx):
        r = request.run_id
        details = self.engine.get_run_details(r.project, r.domain, r.name)
        if details is None:
            raise not_found(f"run {r.project}/{r.domain}/{r.name}")
        return rs.GetRunDetailsResponse(details=details)

    async def get_action_details(self, request, ctx):
        return rs.GetActionDetailsResponse(details=self._action(request, self.engine.get_action))

    async def get_action_data(self, request, ctx):
        inputs_uri, outputs_uri = self._action(request, self.engine.action_uris)
        return rs.GetActionDataResponse(inputs=read_inputs(inputs_uri), outputs=read_outputs(outputs_uri))

    async def get_action_data_u_r_is(self, request, ctx):
        inputs_uri, outputs_uri = self._action(request, self.engine.action_uris)
        return rs.GetActionDataURIsResponse(inputs_uri=inputs_uri, outputs_uri=outputs_uri)

    def _run_rows(self, request) -> list:
        scope = request.WhichOneof("scope_by")
        conds: list[tuple[str, str]] = []
        if scope == "project_id":
            conds = [("project", request.project_id.name), ("domain", request.project_id.domain)]
        elif scope == "trigger_name":
            t = request.trigger_name
            conds = [("project", t.project), ("domain", t.domain), ("trigger_name", t.name), ("task_name", t.task_name)]
        elif scope in ("task_name", "task_id"):
            t = getattr(request, scope)
            conds = [("project", t.project), ("domain", t.domain), ("task_name", t.name)]
            if scope == "task_id" and t.version:
                conds.append(("task_version", t.version))
        sql, args = select_where(
            "SELECT project, domain, name, phase, created_at, updated_at, task_name, task_version, trigger_name, org"
            " FROM runs",
            conds,
            skip_empty=scope == "project_id",  # an empty project or domain matches all
        )
        return self.engine.store.all(sql, args)

    async def list_runs(self, request, ctx):
        lr, page = list_page(request)
        rows = self._run_rows(request)
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
        runs = []
        for r in window:
            det = self.engine.get_action((r[0], r[1], r[2], ROOT_ACTION))
            if det is not None:
                runs.append(run_from_details(det))
        return rs.ListRunsResponse(runs=runs, token=page.token_after(len(window), len(rows)))

    async def list_actions(self, request, ctx):
        r = request.run_id
        self._require_run(r)
        lr, page = list_page(request)
        dets = self.engine.list_actions(r.project, r.domain, r.name)
        fields = {
            "name": lambda d: d.id.name,
            "phase": lambda d: d.status.phase,
            "created_at": lambda d: d.status.start_time.ToNanoseconds(),
            "start_time": lambda d: d.status.start_time.ToNanoseconds(),
        }
        if lr is not None:
            dets = apply_filters(dets, normalize_phase_filters(lr.filters), fields)
            if sort_keys(lr):
                dets = apply_sort(dets, sort_keys(lr), fields)
        window = dets[page.offset : page.offset + page.limit]
        return rs.ListActionsResponse(
            actions=[action_from_details(d) for d in window], token=page.token_after(len(window), len(dets))
        )

    # -- streams ---------------------------------------------------------------------------
    async def watch_action_details(self, request, ctx):
        key = ActionKey.of(request.action_id).tuple()
        with self.hub.subscribe(("action",) + key) as sub:
            while True:
                det = self.engine.get_action(key)
                if det is None:
                    raise not_found(f"action {'/'.join(key)}")
                yield rs.WatchActionDetailsResponse(details=det)
                if det.status.phase in TERMINAL_PHASES:
                    return
                await sub.wait()

    async def watch_run_details(self, request, ctx):
        r = request.run_id
        with self.hub.subscribe(("run", r.project, r.domain, r.name)) as sub:
            while True:
                details = self.engine.get_run_details(r.project, r.domain, r.name)
                if details is None:
                    raise not_found(f"run {r.project}/{r.domain}/{r.name}")
                yield rs.WatchRunDetailsResponse(details=details)
                if details.action.status.phase in TERMINAL_PHASES:
                    return
                await sub.wait()

    async def watch_actions(self, request, ctx):
        r = request.run_id
        self._require_run(r)
        with self.hub.subscribe(("run", r.project, r.domain, r.name)) as sub:
            while True:
                dets = self.engine.list_actions(r.project, r.domain, r.name)
                yield rs.WatchActionsResponse(
                    enriched_actions=[rd.EnrichedAction(action=action_from_details(d), meets_filter=True) for d in dets]
                )
                if all(d.status.phase in TERMINAL_PHASES for d in dets):
                    return
                await sub.wait()

    async def watch_runs(self, request, ctx):
        target = request.WhichOneof("target")
        proj = dom = task = version = None
        if target == "project_id":
            proj, dom = request.project_id.name or None, request.project_id.domain or None
        elif target == "task_id":
            t = request.task_id
            proj, dom, task, version = t.project or None, t.domain or None, t.name or None, t.version or None
        if proj and self.engine.get_project(proj) is None:
            raise not_found(f"project {proj!r}")

        def matches(det: rd.ActionDetails) -> bool:
            rid = det.id.run
            if proj and rid.project != proj:
                return False
            if dom and rid.domain != dom:
                return False
            tid = det.metadata.task.id
            if task and tid.name != task:
                return False
            if version and tid.version != version:
                return False
            return True

        with self.hub.subscribe(("runs",)) as sub:
            sql, args = select_where(
                "SELECT project, domain, name FROM runs",
                [("project", proj), ("domain", dom), ("task_name", task), ("task_version", version)],
                skip_empty=True,
            )
            sql += f" ORDER BY created_at DESC LIMIT {WATCH_RUNS_INITIAL}"
            first = []
            for p, d, n in self.engine.store.all(sql, args):
                det = self.engine.get_action((p, d, n, ROOT_ACTION))
                if det is not None:
                    first.append(run_from_details(det))
            yield rs.WatchRunsResponse(runs=first)
            while True:
                changed = await sub.wait()
                runs = []
                for p, d, n in sorted(changed):
                    det = self.engine.get_action((p, d, n, ROOT_ACTION))
                    if det is not None and has_started(det) and matches(det):
                        runs.append(run_from_details(det))
                if runs:
                    yield rs.WatchRunsResponse(runs=runs)
