"""The catalog: projects (with their domains) and deployed tasks, and what runs a task.

Projects and task specs are stored in SQLite; :meth:`Catalog.resolve_target` decides
what runs a task (registered tasks first, then the module recorded at deploy time, both
in the worker pool; else a deployed Flyte spec's container args, run by the SDK runner).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.project import project_service_pb2
from flyteidl2.task import task_definition_pb2

from ..execution.registry import LocalTask, TaskRegistry, entry_point_of
from .listing import select_where
from .model import DEFAULT_DOMAINS, DEFAULT_PROJECT, Target, not_found, ts
from .store import Row, Store

_TASK_SELECT = "SELECT project, domain, name, version, org, created_at, spec FROM tasks"
TASK_CACHE_SIZE = 1024  # task versions whose rows are kept (a deploy replaces its own)


@dataclass(eq=False)
class Catalog:
    store: Store
    registry: TaskRegistry  # the tasks registered from --tasks, which run first
    # Every launch looks up its project and its task version; both change only through this
    # class (put_project, deploy_task), which keeps these copies of their rows current.
    _projects: dict[str, bytes] = field(default_factory=dict, repr=False)
    _tasks: dict[tuple[str, str, str, str], Row] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ projects
    def seed_projects(self, extra: str | None = None) -> None:
        for pid in {DEFAULT_PROJECT, *([extra] if extra else [])}:
            if self.store.one("SELECT 1 FROM projects WHERE id=?", (pid,)) is None:
                proj = project_service_pb2.Project(id=pid, name=pid, description=f"{pid} (devserver)")
                for d in DEFAULT_DOMAINS:
                    proj.domains.add(id=d, name=d)
                self.store.execute(
                    "INSERT INTO projects (id, created_at, blob) VALUES (?, ?, ?)",
                    (pid, time.time(), proj.SerializeToString()),
                )

    def get_project(self, pid: str) -> project_service_pb2.Project | None:
        blob = self._projects.get(pid)
        if blob is None:
            row = self.store.one("SELECT blob FROM projects WHERE id=?", (pid,))
            if row is None:
                return None
            blob = self._projects[pid] = row[0]
        return project_service_pb2.Project.FromString(blob)

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
        self._projects.pop(proj.id, None)
        self.store.execute(
            "INSERT OR REPLACE INTO projects (id, created_at, blob)"
            " VALUES (?, COALESCE((SELECT created_at FROM projects WHERE id=?), ?), ?)",
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
        self._tasks.pop((task_id.project, task_id.domain, task_id.name, task_id.version), None)
        self.store.execute(
            "INSERT OR REPLACE INTO tasks (project, domain, name, version, org, created_at, spec, module, function)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id.project, task_id.domain, task_id.name, task_id.version, task_id.org, created,
             spec.SerializeToString(), module, function),
        )  # fmt: skip

    def deploy_local_tasks(self, project: str, fallback_domain: str, tasks: Iterable[LocalTask]) -> None:
        """Deploy registered tasks in every domain of ``project`` (``fallback_domain`` if it has none)."""
        proj = self.get_project(project)
        domains = [d.id for d in proj.domains] if proj is not None else [fallback_domain]
        for lt in tasks:
            for dom in domains:
                tid = task_definition_pb2.TaskIdentifier(project=project, domain=dom, name=lt.name, version=lt.version)
                self.deploy_task(tid, lt.spec, module=lt.module, function=lt.function)

    def task_details(self, row: Row) -> task_definition_pb2.TaskDetails:
        """TaskDetails of a task row ``(project, domain, name, version, org, created_at, spec)``."""
        project, domain, name, version, org, created_at, spec = row[:7]
        tid = task_definition_pb2.TaskIdentifier(
            org=org or "", project=project, domain=domain, name=name, version=version
        )
        spec_pb = task_definition_pb2.TaskSpec.FromString(spec)
        md = task_definition_pb2.TaskMetadata(
            short_name=spec_pb.short_name or name.rsplit(".", 1)[-1],
            deployed_at=ts(created_at),
            environment_name=spec_pb.environment.name if spec_pb.HasField("environment") else "",
        )
        return task_definition_pb2.TaskDetails(task_id=tid, metadata=md, spec=spec_pb)

    def get_task(self, tid: task_definition_pb2.TaskIdentifier) -> task_definition_pb2.TaskDetails | None:
        if tid.version:
            key = (tid.project, tid.domain, tid.name, tid.version)
            row = self._tasks.get(key)
            if row is None:
                row = self.store.one(_TASK_SELECT + " WHERE project=? AND domain=? AND name=? AND version=?", key)
                if row is not None:
                    if len(self._tasks) >= TASK_CACHE_SIZE:
                        self._tasks.clear()
                    self._tasks[key] = row
        else:
            row = self.store.one(
                _TASK_SELECT + " WHERE project=? AND domain=? AND name=? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (tid.project, tid.domain, tid.name),
            )
        return self.task_details(row) if row else None

    def has_task(self, project: str, domain: str, name: str) -> bool:
        """Whether any version of the task is deployed."""
        found = self.store.one("SELECT 1 FROM tasks WHERE project=? AND domain=? AND name=?", (project, domain, name))
        return found is not None

    def task_rows(self, conditions: Iterable[tuple[str, Any]] = (), *, skip_empty: bool = False) -> list[Row]:
        """Task rows ``(project, domain, name, version, org, created_at, spec)`` matching ``column=value``."""
        return self.store.all(*select_where(_TASK_SELECT, conditions, skip_empty=skip_empty))

    def resolve_target(self, name: str, version: str, spec: task_definition_pb2.TaskSpec) -> Target | None:
        lt = self.registry.get(name, version)
        if lt is not None:
            return Target(lt.module, lt.function, lt.retries, lt.timeout)
        tmpl = spec.task_template
        retries = tmpl.metadata.retries.retries if tmpl.HasField("metadata") else 0
        timeout = None
        if tmpl.HasField("metadata") and tmpl.metadata.HasField("timeout"):
            timeout = tmpl.metadata.timeout.ToTimedelta().total_seconds() or None
        # Tasks registered from --tasks modules (the module recorded at deploy) run in the worker pool.
        row = self.store.one(
            "SELECT module, function FROM tasks WHERE name=? AND version=? AND module IS NOT NULL LIMIT 1",
            (name, version),
        )
        if row and row[0] and row[1]:
            return Target(row[0], row[1], retries, timeout)
        return container_target(spec)


def container_target(spec: task_definition_pb2.TaskSpec) -> Target | None:
    """A deployed Flyte spec (container args ``a0 ...``, REFERENCE section 6): run by the SDK runner."""
    tmpl = spec.task_template
    if not tmpl.HasField("container") or not tmpl.container.args or tmpl.container.args[0] != "a0":
        return None
    md = tmpl.metadata
    retries = md.retries.retries if tmpl.HasField("metadata") else 0
    timeout = md.timeout.ToTimedelta().total_seconds() or None if md.HasField("timeout") else None
    found = entry_point_of(tmpl.container.args)
    return Target(
        found[0] if found else "", found[1] if found else "", retries, timeout,
        args=tuple(tmpl.container.args), env=tuple((kv.key, kv.value) for kv in tmpl.container.env),
    )  # fmt: skip
