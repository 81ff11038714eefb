"""The devserver's state machine: the :class:`Engine` and its lifecycle.

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

The engine is assembled from mixins, one concept each:

- ``_engine_common``: phases, identifiers, run names, small helpers (re-exported here)
- ``_engine_catalog``: projects and tasks, and which function runs a task
- ``_engine_state``: reading/saving/finishing actions, restart recovery
- ``_engine_runs``: CreateRun
- ``_engine_execution``: executor jobs, retries, timeouts, holds, aborts

This module keeps construction and the executor's start/stop.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from ._engine_catalog import CatalogMixin
from ._engine_common import (  # noqa: F401  (re-exported: the engine's public names)
    ABORTED,
    DEFAULT_ABORT_REASON,
    DEFAULT_DOMAINS,
    DEFAULT_PROJECT,
    FAILED,
    INITIALIZING,
    KIND_SYSTEM,
    KIND_USER,
    MAX_RUN_NAME,
    QUEUED,
    ROOT_ACTION,
    RUN_NAME_ALPHABET,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    ActionKey,
    RunControl,
    Target,
    action_from_details,
    file_uri,
    generate_run_name,
    log,
    not_found,
    run_from_details,
    ts,
    uri_to_path,
    validate_run_name,
)
from ._engine_execution import ExecutionMixin
from ._engine_runs import RunCreationMixin
from ._engine_state import ActionStateMixin
from ._events import Hub
from ._store import Store


class Engine(CatalogMixin, ActionStateMixin, RunCreationMixin, ExecutionMixin):
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

    def inputs_hash(self, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()
