"""The :class:`Dispatch` runner: function jobs to the worker pool, container jobs to the SDK runner.

``--tasks`` functions keep running in the pool's long-lived workers; deployed Flyte task
specs (a :class:`~.interface.ContainerSpec` on the job) run through :mod:`.sdk`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .interface import Job, JobUpdate, Runner

__all__ = ["Dispatch"]


class Dispatch:
    def __init__(self, functions: Runner, containers: Runner) -> None:
        self.functions = functions
        self.containers = containers
        self._owner: dict[str, Runner] = {}
        self.functions_error: str | None = None  # why the worker pool could not start

    async def start(self) -> None:
        await self.containers.start()
        try:
            await self.functions.start()
        except Exception as e:  # deployed specs still run; function jobs fail with the reason
            self.functions_error = f"{type(e).__name__}: {e}"

    async def stop(self) -> None:
        await asyncio.gather(self.containers.stop(), self.functions.stop())

    def submit(self, job: Job, on_update: Callable[[JobUpdate], None]) -> None:
        runner = self.containers if job.container is not None else self.functions
        if runner is self.functions and self.functions_error is not None:
            message = f"the devserver's worker pool is not available: {self.functions_error}"
            upd = JobUpdate(job.job_id, "FAILED", "SYSTEM", "ExecutorUnavailable", message, retryable=False)
            asyncio.get_running_loop().call_soon(on_update, upd)
            return

        def forward(upd: JobUpdate) -> None:
            if upd.terminal:
                self._owner.pop(upd.job_id, None)
            on_update(upd)

        self._owner[job.job_id] = runner
        runner.submit(job, forward)

    async def abort(self, job_id: str, reason: str = "aborted") -> bool:
        runner = self._owner.get(job_id)
        return await runner.abort(job_id, reason) if runner is not None else False
