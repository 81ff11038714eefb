"""The devserver's state machine: projects, tasks, runs and actions.

Everything here runs on the server's event loop. State lives in the SQLite
:class:`~._store.Store`; every change is committed, then published on the
:class:`~._events.Hub` so that watch streams re-read it.

Life of a run (root action ``a0``)::

    CreateRun -> QUEUED (attempts=1) -> job submitted to the Executor
      -> INITIALIZING -> RUNNING -> SUCCEEDED | FAILED | TIMED_OUT
      failed/timed out with retries left: attempts += 1, back to QUEUED
      AbortAction/AbortRun: ABORTED (the worker is stopped)

The admin "hold" keeps a run in RUNNING: the terminal job update is stashed and
applied when the run is released.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.project import project_service_pb2
from flyteidl2.task import common_pb2, run_pb2 as task_run_pb2, task_definition_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from google.protobuf import timestamp_pb2

from ._events import Hub
from ._store import TERMINAL_PHASES, Store

log = logging.getLogger("flyte_remote_core.devserver")

P = phase_pb2
QUEUED = P.ACTION_PHASE_QUEUED
INITIALIZING = P.ACTION_PHASE_INITIALIZING
RUNNING = P.ACTION_PHASE_RUNNING
SUCCEEDED = P.ACTION_PHASE_SUCCEEDED
FAILED = P.ACTION_PHASE_FAILED
ABORTED = P.ACTION_PHASE_ABORTED
TIMED_OUT = P.ACTION_PHASE_TIMED_OUT

_JOB_PHASES = {
    "QUEUED": QUEUED,
    "INITIALIZING": INITIALIZING,
    "RUNNING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "TIMED_OUT": TIMED_OUT,
    "ABORTED": ABORTED,
}

RUN_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RUN_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_RUN_NAME = 30
DEFAULT_PROJECT = "flytesnacks"
DEFAULT_DOMAINS = ("development", "staging", "production")
DEFAULT_ABORT_REASON = "User requested abort"
ROOT_ACTION = "a0"
KIND_USER = rd.ErrorInfo.KIND_USER
KIND_SYSTEM = rd.ErrorInfo.KIND_SYSTEM


def generate_run_name() -> str:
    return "r" + "".join(secrets.choice(RUN_NAME_ALPHABET) for _ in range(19))


def validate_run_name(name: str) -> None:
    if len(name) > MAX_RUN_NAME or not _RUN_NAME_RE.match(name):
        raise ConnectError(
            Code.INVALID_ARGUMENT,
            f"invalid run name {name!r}: a run name must be a DNS-1035 label "
            f"([a-z]([-a-z0-9]*[a-z0-9])?) of at most {MAX_RUN_NAME} characters",
        )


def ts(t: float | None) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    if t is not None:
        out.FromNanoseconds(int(t * 1e9))
    return out


def not_found(what: str) -> ConnectError:
    return ConnectError(Code.NOT_FOUND, f"{what} not found")


def file_uri(path: Path) -> str:
    return Path(path).resolve().as_uri()


def uri_to_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    if uri.startswith("/"):
        return Path(uri)
    return None


@dataclass
class Target:
    """What the executor needs to run a task."""

    module: str
    function: str
    retries: int = 0
    timeout_s: float | None = None


@dataclass
class ActionKey:
    project: str
    domain: str
    run: str
    name: str = ROOT_ACTION

    @classmethod
    def of(cls, action_id: identifier_pb2.ActionIdentifier) -> ActionKey:
        r = action_id.run
        return cls(r.project, r.domain, r.name, action_id.name or ROOT_ACTION)

    def tuple(self) -> tuple[str, str, str, str]:
        return (self.project, self.domain, self.run, self.name)

    def __hash__(self) -> int:
        return hash(self.tuple())


@dataclass
class RunControl:
    """Test-control state shared by the engine, the admin API and the interceptor."""

    hold_all: bool = False
    held: set[str] = field(default_factory=set)
    stashed: dict[tuple, Any] = field(default_factory=dict)


def _timeout_seconds(value) -> float | None:
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        value = value.total_seconds()
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


class Engine:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        data_dir: Path,
        *,
        duplicate_run_names: str = "return-existing",
        registry: dict | None = None,
        control: RunControl | None = None,
        workers: int = 2,
    ) -> None:
        self.store = store
        self.hub = hub
        self.data_dir = Path(data_dir)
        self.storage_dir = self.data_dir / "storage"
        self.logs_dir = self.data_dir / "logs"
        self.duplicate_run_names = duplicate_run_names
        self.registry: dict[tuple[str, str], Any] = registry or {}
        self.control = control or RunControl()
        self.workers = workers
        self._executor = None
        self._executor_ready: asyncio.Future | None = None
        self._executor_error: str | None = None
        self._jobs: dict[str, tuple[tuple, int]] = {}  # job_id -> (action key tuple, attempt)
        self._job_of: dict[tuple, str] = {}  # action key tuple -> current job id
        self._tasks: set[asyncio.Task] = set()
        self._targets: dict[tuple, tuple[Target | None, str]] = {}
        self._closed = False
        self.run_created_callbacks: list = []

    # ------------------------------------------------------------------ lifecycle
    def start_executor(self) -> None:
        """Start the executor in the background (server readiness does not wait for it)."""
        loop = asyncio.get_running_loop()
        self._executor_ready = loop.create_future()

        async def _start() -> None:
            try:
                from ._executor import Executor  # owned by the executor engineer

                ex = Executor(workers=self.workers)
                await ex.start()
                self._executor = ex
                if not self._executor_ready.done():
                    self._executor_ready.set_result(ex)
            except Exception as e:  # pragma: no cover - depends on the environment
                log.exception("devserver executor failed to start")
                self._executor_error = f"{type(e).__name__}: {e}"
                if not self._executor_ready.done():
                    self._executor_ready.set_result(None)

        self._executor_start = loop.create_task(_start())

    async def stop(self) -> None:
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        start = getattr(self, "_executor_start", None)
        if start is not None and not start.done():
            # Never cancel a half-started pool (it would leak workers): let it finish, then stop it.
            try:
                await asyncio.wait_for(asyncio.shield(start), 60)
            except Exception:
                pass
        if self._executor is not None:
            try:
                await asyncio.wait_for(self._executor.stop(), 10)
            except Exception:
                log.exception("executor stop failed")
            self._executor = None

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ projects
    def seed_projects(self, extra: str | None = None) -> None:
        for pid in {DEFAULT_PROJECT, *( [extra] if extra else [] )}:
            if self.store.one("SELECT 1 FROM projects WHERE id=?", (pid,)) is None:
                proj = project_service_pb2.Project(id=pid, name=pid, description=f"{pid} (devserver)")
                for d in DEFAULT_DOMAINS:
                    proj.domains.add(id=d, name=d)
                self.store.execute(
                    "INSERT INTO projects (id, created_at, blob) VALUES (?, ?, ?)",
                    (pid, time.time(), proj.SerializeToString()),
                )

    def get_project(self, pid: str) -> project_service_pb2.Project | None:
        row = self.store.one("SELECT blob FROM projects WHERE id=?", (pid,))
        return project_service_pb2.Project.FromString(row[0]) if row else None

    def list_projects(self) -> list[project_service_pb2.Project]:
        rows = self.store.all("SELECT blob FROM projects ORDER BY created_at, id")
        return [project_service_pb2.Project.FromString(r[0]) for r in rows]

    def put_project(self, proj: project_service_pb2.Project, *, create: bool) -> None:
        exists = self.get_project(proj.id) is not None
        if create and exists:
            raise ConnectError(Code.ALREADY_EXISTS, f"project {proj.id!r} already exists")
        if not create and not exists:
            raise not_found(f"project {proj.id!r}")
        if not proj.domains:
            for d in DEFAULT_DOMAINS:
                proj.domains.add(id=d, name=d)
        if not proj.name:
            proj.name = proj.id
        self.store.execute(
            "INSERT OR REPLACE INTO projects (id, created_at, blob) VALUES (?, COALESCE((SELECT created_at FROM projects WHERE id=?), ?), ?)",
            (proj.id, proj.id, time.time(), proj.SerializeToString()),
        )

    def require_project(self, project: str, domain: str) -> None:
        proj = self.get_project(project)
        if proj is None:
            raise not_found(f"project {project!r}")
        if domain and proj.domains and domain not in {d.id for d in proj.domains}:
            raise not_found(f"domain {domain!r} of project {project!r}")

    # ------------------------------------------------------------------ tasks
    def deploy_task(
        self,
        task_id: task_definition_pb2.TaskIdentifier,
        spec: task_definition_pb2.TaskSpec,
        *,
        module: str | None = None,
        function: str | None = None,
    ) -> None:
        if not task_id.name or not task_id.version:
            raise ConnectError(Code.INVALID_ARGUMENT, "task_id needs a name and a version")
        self.require_project(task_id.project, task_id.domain)
        row = self.store.one(
            "SELECT created_at, module, function FROM tasks WHERE project=? AND domain=? AND name=? AND version=?",
            (task_id.project, task_id.domain, task_id.name, task_id.version),
        )
        created = row[0] if row else time.time()
        module = module or (row[1] if row else None)
        function = function or (row[2] if row else None)
        self.store.execute(
            "INSERT OR REPLACE INTO tasks (project, domain, name, version, org, created_at, spec, module, function)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id.project, task_id.domain, task_id.name, task_id.version, task_id.org, created,
             spec.SerializeToString(), module, function),
        )

    def _task_from_row(self, row) -> task_definition_pb2.TaskDetails:
        project, domain, name, version, org, created_at, spec = row[:7]
        tid = task_definition_pb2.TaskIdentifier(org=org or "", project=project, domain=domain, name=name, version=version)
        spec_pb = task_definition_pb2.TaskSpec.FromString(spec)
        md = task_definition_pb2.TaskMetadata(
            short_name=spec_pb.short_name or name.rsplit(".", 1)[-1],
            deployed_at=ts(created_at),
            environment_name=spec_pb.environment.name if spec_pb.HasField("environment") else "",
        )
        return task_definition_pb2.TaskDetails(task_id=tid, metadata=md, spec=spec_pb)

    def get_task(self, tid: task_definition_pb2.TaskIdentifier) -> task_definition_pb2.TaskDetails | None:
        if tid.version:
            row = self.store.one(
                "SELECT project, domain, name, version, org, created_at, spec FROM tasks"
                " WHERE project=? AND domain=? AND name=? AND version=?",
                (tid.project, tid.domain, tid.name, tid.version),
            )
        else:
            row = self.store.one(
                "SELECT project, domain, name, version, org, created_at, spec FROM tasks"
                " WHERE project=? AND domain=? AND name=? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (tid.project, tid.domain, tid.name),
            )
        return self._task_from_row(row) if row else None

    def task_rows(self, where: str = "", args: tuple = ()) -> list:
        sql = "SELECT project, domain, name, version, org, created_at, spec FROM tasks"
        if where:
            sql += " WHERE " + where
        return self.store.all(sql, args)

    def resolve_target(self, name: str, version: str, spec: task_definition_pb2.TaskSpec) -> Target | None:
        lt = self.registry.get((name, version)) or self.registry.get((name, None))
        if lt is not None:
            return Target(lt.module, lt.function, int(getattr(lt, "retries", 0) or 0), _timeout_seconds(getattr(lt, "timeout", None)))
        tmpl = spec.task_template
        retries = tmpl.metadata.retries.retries if tmpl.HasField("metadata") else 0
        timeout = None
        if tmpl.HasField("metadata") and tmpl.metadata.HasField("timeout"):
            timeout = tmpl.metadata.timeout.ToTimedelta().total_seconds() or None
        row = self.store.one(
            "SELECT module, function FROM tasks WHERE name=? AND version=? AND module IS NOT NULL LIMIT 1",
            (name, version),
        )
        if row and row[0] and row[1]:
            return Target(row[0], row[1], retries, timeout)
        # A real Flyte task spec: "... --resolver R mod M instance T" (REFERENCE section 6).
        if tmpl.HasField("container"):
            args = list(tmpl.container.args)
            if "mod" in args and "instance" in args:
                try:
                    mod = args[args.index("mod") + 1]
                    inst = args[args.index("instance") + 1]
                    return Target(mod, inst, retries, timeout)
                except IndexError:
                    pass
        return None

    # ------------------------------------------------------------------ runs / actions
    def _action_row(self, key: tuple) -> tuple | None:
        return self.store.one(
            "SELECT details, inputs_uri, outputs_uri FROM actions WHERE project=? AND domain=? AND run=? AND name=?",
            key,
        )

    def get_action(self, key: tuple) -> rd.ActionDetails | None:
        row = self._action_row(key)
        return rd.ActionDetails.FromString(row[0]) if row else None

    def action_uris(self, key: tuple) -> tuple[str, str] | None:
        row = self._action_row(key)
        return (row[1] or "", row[2] or "") if row else None

    def get_run_spec(self, project: str, domain: str, run: str) -> task_run_pb2.RunSpec | None:
        row = self.store.one("SELECT run_spec FROM runs WHERE project=? AND domain=? AND name=?", (project, domain, run))
        return task_run_pb2.RunSpec.FromString(row[0] or b"") if row else None

    def get_run_details(self, project: str, domain: str, run: str) -> rd.RunDetails | None:
        spec = self.get_run_spec(project, domain, run)
        if spec is None:
            return None
        det = self.get_action((project, domain, run, ROOT_ACTION))
        return rd.RunDetails(run_spec=spec, action=det)

    def get_run(self, project: str, domain: str, run: str) -> rd.Run | None:
        det = self.get_action((project, domain, run, ROOT_ACTION))
        return run_from_details(det) if det is not None else None

    def list_actions(self, project: str, domain: str, run: str) -> list[rd.ActionDetails]:
        rows = self.store.all(
            "SELECT details FROM actions WHERE project=? AND domain=? AND run=? ORDER BY created_at, name",
            (project, domain, run),
        )
        return [rd.ActionDetails.FromString(r[0]) for r in rows]

    def _save(self, det: rd.ActionDetails, *, outputs_uri: str | None = None) -> None:
        key = (det.id.run.project, det.id.run.domain, det.id.run.name, det.id.name)
        now = time.time()
        phase = det.status.phase
        blob = det.SerializeToString()
        if outputs_uri is None:
            self.store.execute(
                "UPDATE actions SET details=?, phase=?, updated_at=? WHERE project=? AND domain=? AND run=? AND name=?",
                (blob, phase, now, *key),
            )
        else:
            self.store.execute(
                "UPDATE actions SET details=?, phase=?, updated_at=?, outputs_uri=? WHERE project=? AND domain=? AND run=? AND name=?",
                (blob, phase, now, outputs_uri, *key),
            )
        if det.id.name == ROOT_ACTION:
            self.store.execute(
                "UPDATE runs SET phase=?, updated_at=? WHERE project=? AND domain=? AND name=?",
                (phase, now, key[0], key[1], key[2]),
            )
        self._publish(key)

    def _publish(self, key: tuple) -> None:
        self.hub.publish(("action",) + key)
        self.hub.publish(("run",) + key[:3])
        self.hub.publish(("runs",), key[:3])

    def recover_after_restart(self) -> int:
        """Finish every action that was not terminal when the last process died."""
        rows = self.store.all(
            "SELECT details FROM actions WHERE phase NOT IN (%s)" % ",".join(str(p) for p in TERMINAL_PHASES)
        )
        now = time.time()
        for (blob,) in rows:
            det = rd.ActionDetails.FromString(blob)
            msg = (
                "the devserver restarted while this action was "
                f"{P.ActionPhase.Name(det.status.phase).removeprefix('ACTION_PHASE_')}; it was not resumed"
            )
            err = rd.ErrorInfo(message=msg, kind=KIND_SYSTEM, code="DevserverRestarted")
            self._finish(det, FAILED, now, error=err)
            self._save(det)
        return len(rows)

    def _finish(self, det: rd.ActionDetails, phase: int, now: float, *, error=None, abort=None) -> None:
        det.status.phase = phase
        det.status.end_time.CopyFrom(ts(now))
        start = det.status.start_time.ToNanoseconds() / 1e9 if det.status.HasField("start_time") else now
        det.status.duration_ms = max(0, int((now - start) * 1000))
        if error is not None:
            det.error_info.CopyFrom(error)
        if abort is not None:
            det.abort_info.CopyFrom(abort)
        if det.attempts:
            att = det.attempts[-1]
            if att.phase not in TERMINAL_PHASES:
                _transition(att, phase, now)
                att.phase = phase
                att.end_time.CopyFrom(ts(now))
            if error is not None and not att.HasField("error_info"):
                att.error_info.CopyFrom(error)

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
        _transition(att, QUEUED, now)
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
        self._publish(key)
        target = self.resolve_target(task_id.name, task_id.version, spec)
        self._spawn(self._launch(key, target, inputs_uri))
        return run_from_details(det)

    # ------------------------------------------------------------------ execution
    def _attempt_dir(self, key: tuple, attempt: int) -> Path:
        return self.storage_dir / "runs" / key[0] / key[1] / key[2] / key[3] / str(attempt)

    def log_path(self, key: tuple, attempt: int) -> Path:
        return self.logs_dir / key[0] / key[1] / key[2] / key[3] / f"{attempt}.log"

    async def _launch(self, key: tuple, target: Target | None, inputs_uri: str) -> None:
        det = self.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES:
            return
        attempt = det.status.attempts
        if target is None:
            err = rd.ErrorInfo(
                kind=KIND_SYSTEM, code="TaskNotRunnable",
                message=f"the devserver cannot run task {det.metadata.task.id.name!r}: it was not registered "
                "with --tasks/tasks=[...] and its spec names no importable module",
            )
            await self._apply_terminal(key, attempt, FAILED, err, None)
            return
        inputs_path = uri_to_path(inputs_uri)
        if inputs_path is None:
            err = rd.ErrorInfo(kind=KIND_SYSTEM, code="InputsUnreadable",
                               message=f"the devserver can only read file:// inputs, got {inputs_uri!r}")
            await self._apply_terminal(key, attempt, FAILED, err, None)
            return
        ready = self._executor_ready
        executor = await ready if ready is not None else None
        det = self.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts != attempt:
            return
        if executor is None:
            err = rd.ErrorInfo(kind=KIND_SYSTEM, code="ExecutorUnavailable",
                               message=f"the devserver executor is not available: {self._executor_error}")
            await self._apply_terminal(key, attempt, FAILED, err, None)
            return
        from ._executor import Job

        out_dir = self._attempt_dir(key, attempt)
        out_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(key, attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch()
        job_id = f"{key[0]}/{key[1]}/{key[2]}/{key[3]}#{attempt}"
        self._jobs[job_id] = (key, attempt)
        self._job_of[key] = job_id
        att = det.attempts[-1]
        del att.log_info[:]
        att.log_info.add(uri=file_uri(log_path), name="devserver logs")
        att.logs_available = True
        att.outputs.output_uri = file_uri(out_dir / "outputs.pb")
        self._save(det)
        job = Job(
            job_id=job_id,
            module=target.module,
            function=target.function,
            inputs_path=str(inputs_path),
            outputs_path=str(out_dir / "outputs.pb"),
            log_path=str(log_path),
            timeout_s=target.timeout_s,
            attempt=attempt,
        )
        self._targets[key] = (target, inputs_uri)
        res = executor.submit(job, self._on_update)
        if inspect.isawaitable(res):
            await res

    def _on_update(self, upd) -> None:
        """JobUpdate from the executor (delivered on the event loop)."""
        if self._closed:
            return
        entry = self._jobs.get(upd.job_id)
        if entry is None:
            return
        key, attempt = entry
        phase = _JOB_PHASES.get(str(getattr(upd.phase, "name", upd.phase)).upper())
        if phase is None:
            return
        if phase in TERMINAL_PHASES:
            self._jobs.pop(upd.job_id, None)
        det = self.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts != attempt:
            return
        now = time.time()
        if phase in (INITIALIZING, RUNNING):
            if phase > det.status.phase:
                _transition(det.attempts[-1], phase, now)
                det.status.phase = phase
                det.attempts[-1].phase = phase
                self._save(det)
            return
        error = None
        if phase != SUCCEEDED:
            kind = str(getattr(upd, "error_kind", "") or "USER").upper()
            error = rd.ErrorInfo(
                kind=KIND_SYSTEM if kind.endswith("SYSTEM") else KIND_USER,
                code=getattr(upd, "error_code", "") or ("Timeout" if phase == TIMED_OUT else ""),
                message=getattr(upd, "error_message", "") or "",
            )
        if key[2] in self.control.held:
            # Hold: keep it RUNNING, apply the end when released.
            if det.status.phase < RUNNING:
                for ph in (INITIALIZING, RUNNING):
                    if ph > det.status.phase:
                        _transition(det.attempts[-1], ph, now)
                        det.status.phase = ph
                        det.attempts[-1].phase = ph
                self._save(det)
            self.control.stashed[key] = (attempt, phase, error)
            return
        self._spawn(self._apply_terminal(key, attempt, phase, error, None))

    def release(self, run_names: list[str] | None = None) -> int:
        """Release held runs (all when ``run_names`` is None); returns how many were held."""
        if run_names is None:
            names = set(self.control.held)
            self.control.hold_all = False
        else:
            names = set(run_names) & self.control.held
        self.control.held -= names
        for key, (attempt, phase, error) in list(self.control.stashed.items()):
            if key[2] in names:
                del self.control.stashed[key]
                self._spawn(self._apply_terminal(key, attempt, phase, error, None))
        return len(names)

    async def _apply_terminal(self, key: tuple, attempt: int, phase: int, error, _unused) -> None:
        det = self.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts != attempt:
            return
        now = time.time()
        self._job_of.pop(key, None)
        if phase == SUCCEEDED:
            out = self._attempt_dir(key, attempt) / "outputs.pb"
            outputs_uri = file_uri(out) if out.exists() else ""
            for ph in (INITIALIZING, RUNNING):
                if det.attempts and det.attempts[-1].phase < ph:
                    _transition(det.attempts[-1], ph, now)
            self._finish(det, SUCCEEDED, now)
            self._save(det, outputs_uri=outputs_uri)
            return
        target, inputs_uri = self._targets.get(key, (None, ""))
        retries = target.retries if target else 0
        att = det.attempts[-1] if det.attempts else det.attempts.add(attempt=attempt)
        if attempt <= retries and error is not None and error.code != "TaskNotRunnable":
            # Retry: record the failed attempt, bump attempts, back to QUEUED.
            _transition(att, phase, now)
            att.phase = phase
            att.end_time.CopyFrom(ts(now))
            att.error_info.CopyFrom(error)
            det.status.attempts = attempt + 1
            det.status.phase = QUEUED
            nxt = det.attempts.add(attempt=attempt + 1, phase=QUEUED)
            nxt.start_time.CopyFrom(ts(now))
            _transition(nxt, QUEUED, now)
            self._save(det)
            self._spawn(self._launch(key, target, inputs_uri))
            return
        final_error = error
        if retries > 0 and error is not None and phase == FAILED:
            final_error = rd.ErrorInfo(
                kind=KIND_USER, code="MaxRetriesExceeded",
                message=f"failed after {attempt} attempts; last error: [{error.code or 'Error'}] {error.message}",
            )
            att.error_info.CopyFrom(error)
        self._finish(det, phase, now, error=final_error)
        self._save(det)

    def abort(self, key: tuple, reason: str) -> bool:
        det = self.get_action(key)
        if det is None:
            return False
        if det.status.phase in TERMINAL_PHASES:
            return True
        now = time.time()
        info = rd.AbortInfo(reason=reason or DEFAULT_ABORT_REASON)
        self._finish(det, ABORTED, now, abort=info)
        self._save(det)
        self.control.stashed.pop(key, None)
        job_id = self._job_of.pop(key, None)
        if job_id is not None:
            self._jobs.pop(job_id, None)
            if self._executor is not None:
                async def _abort() -> None:
                    try:
                        res = self._executor.abort(job_id)
                        if inspect.isawaitable(res):
                            await res
                    except Exception:
                        log.exception("executor abort failed for %s", job_id)

                self._spawn(_abort())
        return True

    def is_terminal(self, key: tuple) -> bool:
        det = self.get_action(key)
        return det is None or det.status.phase in TERMINAL_PHASES

    def inputs_hash(self, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()


def _transition(att: rd.ActionAttempt, phase: int, now: float) -> None:
    if att.phase_transitions:
        last = att.phase_transitions[-1]
        if last.phase == phase:
            return
        if not last.HasField("end_time"):
            last.end_time.CopyFrom(ts(now))
    pt = att.phase_transitions.add(phase=phase)
    pt.start_time.CopyFrom(ts(now))
    if phase in TERMINAL_PHASES:
        pt.end_time.CopyFrom(ts(now))


def run_from_details(det: rd.ActionDetails) -> rd.Run:
    run = rd.Run()
    run.action.id.CopyFrom(det.id)
    run.action.metadata.CopyFrom(det.metadata)
    run.action.status.CopyFrom(det.status)
    return run


def action_from_details(det: rd.ActionDetails) -> rd.Action:
    return rd.Action(id=det.id, metadata=det.metadata, status=det.status)
