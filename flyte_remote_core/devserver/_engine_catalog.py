"""Engine mixin for the catalog: projects (with their domains) and deployed tasks.

Projects and task specs are stored in SQLite; :meth:`CatalogMixin.resolve_target`
decides which Python function runs a task (registered tasks first, then the module
recorded at deploy time, then a Flyte container spec's ``mod``/``instance`` args).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.project import project_service_pb2
from flyteidl2.task import task_definition_pb2

from ._engine_common import DEFAULT_DOMAINS, DEFAULT_PROJECT, Target, not_found, timeout_seconds, ts
from ._engine_query import select_where
from ._store import Store

_TASK_SELECT = "SELECT project, domain, name, version, org, created_at, spec FROM tasks"


class CatalogMixin:
    """Projects and tasks; needs ``self.store`` and ``self.registry``."""

    store: Store
    registry: dict[tuple[str, str], Any]

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
                _TASK_SELECT + " WHERE project=? AND domain=? AND name=? AND version=?",
                (tid.project, tid.domain, tid.name, tid.version),
            )
        else:
            row = self.store.one(
                _TASK_SELECT + " WHERE project=? AND domain=? AND name=? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (tid.project, tid.domain, tid.name),
            )
        return self._task_from_row(row) if row else None

    def task_rows(self, conditions: Iterable[tuple[str, Any]] = (), *, skip_empty: bool = False) -> list:
        """Task rows ``(project, domain, name, version, org, created_at, spec)`` matching ``column=value``."""
        return self.store.all(*select_where(_TASK_SELECT, conditions, skip_empty=skip_empty))

    def resolve_target(self, name: str, version: str, spec: task_definition_pb2.TaskSpec) -> Target | None:
        lt = self.registry.get((name, version)) or self.registry.get((name, None))
        if lt is not None:
            return Target(lt.module, lt.function, int(getattr(lt, "retries", 0) or 0), timeout_seconds(getattr(lt, "timeout", None)))
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
