"""The :class:`Engine`: the engine's collaborators, assembled, and its lifecycle.

Life of a run (root action ``a0``)::

    CreateRun -> QUEUED (attempts=1) -> job submitted to the runner
      -> INITIALIZING -> RUNNING -> SUCCEEDED | FAILED | TIMED_OUT
      failed/timed out with retries left: attempts += 1, back to QUEUED
      AbortAction/AbortRun: ABORTED (the job is stopped, and its children's)
      nested actions: EnqueueAction from a running parent inserts a child of the run,
      which goes through the same life (:class:`~.children.ChildActions`)

A restart over an existing data folder resumes what the last process left live
(:mod:`.recovery`): queued actions are launched again, running ones retried within their
retry budget, and only then failed (``DevserverRestarted``).

The admin "hold" keeps a run in RUNNING: the attempt's end is stashed and applied
when the run is released.

One object per concept, each given what it uses: :class:`~.catalog.Catalog` (projects,
tasks), :class:`~.actions.ActionStore` (runs and actions), :class:`~.holds.Holds`,
:class:`~.queue.JobQueue` (the runner and its jobs), :class:`~.attempts.Attempts` (the
attempt state machine), :class:`~.runs.RunCreator` (CreateRun), :class:`~.triggers.TriggerBook`
and :class:`~.scheduler.Scheduler`, :class:`~.secrets.SecretBook`.

While it serves, the engine also checkpoints the store's WAL when writes pause
(:meth:`~.store.Store.checkpoint_if_quiet`), not inside a commit that a waiter is waiting for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..execution.interface import Runner
from ..execution.registry import TaskRegistry
from .actions import ActionStore
from .attempts import Attempts
from .catalog import Catalog
from .children import ChildActions
from .events import Hub
from .holds import Holds
from .inputs import InputStore
from .queue import Background, JobQueue
from .recovery import Recovery, Resumed
from .runs import RunCreator
from .scheduler import Scheduler
from .secrets import SecretBook
from .store import Store
from .triggers import TriggerBook

log = logging.getLogger("flyte_remote_core.devserver")

CHECKPOINT_LOOK_S = 0.2  # how often the engine looks whether writes have paused


class Engine:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        data_dir: Path,
        *,
        registry: TaskRegistry,
        make_runner: Callable[[], Runner],
        duplicate_run_names: str = "return-existing",
    ) -> None:
        self.store = store
        self._checkpoints: asyncio.Task[None] | None = None
        data_dir = Path(data_dir).resolve()  # task runtimes run in folders of their own; file URIs need no resolving
        self.storage_dir = data_dir / "storage"
        self.inputs = InputStore(store, self.storage_dir)
        background = Background()
        self.catalog = Catalog(store, registry)
        self.actions = ActionStore(store, hub, self.inputs)
        self.holds = Holds()
        self.queue = JobQueue(make_runner, background)
        self.attempts = Attempts(
            self.actions, self.holds, self.queue, background,
            storage_dir=self.storage_dir, logs_dir=data_dir / "logs",
        )  # fmt: skip
        self.children = ChildActions(self.catalog, self.actions, self.attempts)
        self.triggers = TriggerBook(store, self.catalog)
        self.runs = RunCreator(
            self.catalog, self.actions, self.triggers, self.holds, self.attempts,
            inputs=self.inputs, duplicate_run_names=duplicate_run_names,
        )  # fmt: skip
        self.scheduler = Scheduler(self.triggers, self.runs.create_run)
        self.secrets = SecretBook(store)
        self.recovery = Recovery(self.catalog, self.actions, self.attempts)
        self.resumed: Resumed | None = None  # what start() did with a previous process's live actions

    def prepare(self, project: str) -> int:
        """Before serving: seed the projects; returns how many actions a dead process left live."""
        self.catalog.seed_projects(project)
        return self.recovery.count_live()

    def start(self) -> None:
        """On the event loop, before serving: the runner (in the background), resumed actions, the scheduler.

        Resuming waits for ``start``, not ``prepare``: the tasks registered from ``--tasks``
        (their retry budgets) are known by then, and launching needs the loop.
        """
        self.queue.start()
        self.resumed = self.recovery.resume()
        self.scheduler.start()
        self._checkpoints = asyncio.get_running_loop().create_task(self._checkpoint_when_quiet())

    async def stop(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        await self.scheduler.stop()
        await self.queue.stop()

    async def _checkpoint_when_quiet(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_LOOK_S)
            try:
                self.store.checkpoint_if_quiet()
            except sqlite3.Error:  # SQLite's own checkpoint still runs; say so and look again later
                log.warning("devserver: WAL checkpoint failed", exc_info=True)
