"""The queue: attempts handed to the execution runner, and the engine's background tasks.

:class:`JobQueue` starts the :class:`~..execution.interface.Runner` in the background
(server readiness does not wait for it), submits jobs to it, and remembers which job
runs which attempt of which action, so that updates and aborts find their way.
:class:`Background` holds the engine's own tasks, cancelled together at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from ..execution.interface import Job, JobUpdate, Runner
from .model import Key, log


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_all(self) -> None:
        for t in list(self._tasks):
            t.cancel()


class JobQueue:
    def __init__(self, make_runner: Callable[[], Runner], background: Background) -> None:
        self._make_runner = make_runner
        self._background = background
        self._runner: Runner | None = None
        self._ready: asyncio.Future[Runner | None] | None = None
        self._starting: asyncio.Task[None] | None = None
        self.error: str | None = None  # why the runner could not start
        self.closed = False
        self._jobs: dict[str, tuple[Key, int]] = {}  # job id -> (action, attempt)
        self._job_of: dict[Key, str] = {}  # action -> its current job id

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the runner in the background (on the event loop)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Runner | None] = loop.create_future()
        self._ready = ready

        async def _start() -> None:
            try:
                runner = self._make_runner()
                await runner.start()
                self._runner = runner
                if not ready.done():
                    ready.set_result(runner)
            except Exception as e:  # pragma: no cover - depends on the environment
                log.exception("devserver executor failed to start")
                self.error = f"{type(e).__name__}: {e}"
                if not ready.done():
                    ready.set_result(None)

        # Not a background task: it must never be cancelled half-way (see stop).
        self._starting = loop.create_task(_start())

    async def runner(self) -> Runner | None:
        """The started runner; None when it failed to start or was never started."""
        return await self._ready if self._ready is not None else None

    async def stop(self) -> None:
        self.closed = True
        self._background.cancel_all()
        starting = self._starting
        if starting is not None and not starting.done():
            # Never cancel a half-started pool (it would leak workers): let it finish, then stop it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(starting), 60)
        if self._runner is not None:
            try:
                await asyncio.wait_for(self._runner.stop(), 10)
            except Exception:
                log.exception("executor stop failed")
            self._runner = None

    # ------------------------------------------------------------------ jobs
    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet ended."""
        return len(self._jobs)

    def submit(self, runner: Runner, job: Job, key: Key, attempt: int, on_update: Callable[[JobUpdate], None]) -> None:
        self._jobs[job.job_id] = (key, attempt)
        self._job_of[key] = job.job_id
        runner.submit(job, on_update)

    def attempt_of(self, job_id: str, *, done: bool = False) -> tuple[Key, int] | None:
        """The action and attempt a job runs; ``done`` forgets the job (it ended)."""
        return self._jobs.pop(job_id, None) if done else self._jobs.get(job_id)

    def job_of(self, key: Key) -> str | None:
        """The action's current job id, if it has one."""
        return self._job_of.get(key)

    def forget(self, key: Key) -> None:
        """The action's attempt ended: it has no current job."""
        self._job_of.pop(key, None)

    def abort(self, key: Key) -> None:
        """Stop the action's current job, if any (in the background)."""
        job_id = self._job_of.pop(key, None)
        if job_id is None:
            return
        self._jobs.pop(job_id, None)
        runner = self._runner
        if runner is None:
            return

        async def _abort() -> None:
            try:
                await runner.abort(job_id)
            except Exception:
                log.exception("executor abort failed for %s", job_id)

        self._background.spawn(_abort())
