"""The :class:`SdkRunner`: each attempt of a deployed spec runs as ``a0 ...`` in a subprocess.

A subprocess per attempt (the runtime is one action's process, as in a pod), started in its
own session so that an abort, a timeout or the devserver's stop kills the whole process group
(whatever the task started too). Its stdout and stderr go to the attempt's log file.

At most ``workers`` attempts run at a time, but a parent waiting on its children does not hold a
slot: an action with a child queued or running is not counted, so nesting never deadlocks.
A bootstrap around the runtime exits with the devserver if the devserver dies without stopping.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..interface import Job, JobUpdate, ensure_inputs_file, note_in_log
from .python import OPTION_HINT, SdkPython
from .spec import fill_args, placeholder_values, read_result, runtime_env

__all__ = ["BOOTSTRAP", "SdkRunner"]

log = logging.getLogger(__name__)

_KILL_WAIT_S = 5.0
_LOG_TAIL_LINES = 20

# Run the SDK's runtime entry point (``a0`` = flyte._bin.runtime:main) with the container's
# arguments, after a watcher thread that ends the process if its parent (the devserver) dies.
BOOTSTRAP = (
    "import os, sys, threading, time\n"
    "ppid = os.getppid()\n"
    "def _watch():\n"
    "    while True:\n"
    "        time.sleep(1.0)\n"
    "        if os.getppid() != ppid:\n"
    "            os.killpg(0, 9)\n"
    "threading.Thread(target=_watch, daemon=True).start()\n"
    "sys.argv = sys.argv[1:]\n"
    "from flyte._bin.runtime import main\n"
    "main(args=sys.argv[1:], prog_name=sys.argv[0])\n"
)


@dataclass(eq=False)
class _Run:
    job: Job
    on_update: Callable[[JobUpdate], None]
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    done: bool = False
    ending: str | None = None  # "ABORTED" | "TIMED_OUT" once the runner decided to kill it


class SdkRunner:
    def __init__(
        self,
        python: SdkPython,
        *,
        endpoint: Callable[[], str],
        workers: int = 2,
        python_path: Sequence[str] = (),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.python = python
        self._endpoint = endpoint
        self._workers = workers
        self._python_path = [str(Path(p).resolve()) for p in python_path]
        self._queue: collections.deque[_Run] = collections.deque()
        self._runs: dict[str, _Run] = {}  # queued or running, by job id
        self._running = False

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        """Kill every attempt's process group; each job ends ABORTED. Never hangs."""
        self._running = False
        runs = list(self._runs.values())
        for run in runs:
            self._finish(run, JobUpdate(run.job.job_id, "ABORTED", error_message="devserver stopped"))
            self._kill(run)
        self._queue.clear()
        await self._reap(runs)

    # -- operations ----------------------------------------------------------------
    def submit(self, job: Job, on_update: Callable[[JobUpdate], None]) -> None:
        if not self._running:
            raise RuntimeError("the SDK runner is not running")
        if job.container is None:
            raise ValueError(f"job {job.job_id!r} has no container spec")
        if job.job_id in self._runs:
            raise ValueError(f"job {job.job_id!r} is already queued or running")
        run = _Run(job, on_update)
        self._runs[job.job_id] = run
        loop = asyncio.get_running_loop()
        if not self.python.available:
            message = f"cannot run a deployed Flyte task: {self.python.problem}; {OPTION_HINT}"
            note_in_log(job, message)
            upd = JobUpdate(job.job_id, "FAILED", "SYSTEM", "SdkPythonMissing", message, retryable=False)
            loop.call_soon(self._finish, run, upd)
            return
        self._queue.append(run)
        loop.call_soon(self._dispatch)

    async def abort(self, job_id: str, reason: str = "aborted") -> bool:
        run = self._runs.get(job_id)
        if run is None or run.done:
            return False
        self._finish(run, JobUpdate(job_id, "ABORTED", error_message=reason))
        if run in self._queue:
            self._queue.remove(run)
        self._kill(run)
        await self._reap([run])
        return True

    @property
    def pids(self) -> list[int]:
        """Process ids of the attempts running now."""
        return [r.proc.pid for r in self._runs.values() if r.proc is not None and r.proc.returncode is None]

    # -- scheduling ----------------------------------------------------------------
    def _busy(self) -> int:
        """Running attempts that hold a slot: those not waiting on a child of theirs."""
        parents = {r.job.container.parent_job_id for r in self._runs.values() if r.job.container is not None}
        return sum(1 for r in self._runs.values() if r.task is not None and not r.done and r.job.job_id not in parents)

    def _dispatch(self) -> None:
        while self._running and self._queue and self._busy() < self._workers:
            run = self._queue.popleft()
            if run.done:
                continue
            run.task = asyncio.get_running_loop().create_task(self._run(run))

    async def _run(self, run: _Run) -> None:
        job = run.job
        spec = job.container
        assert spec is not None and self.python.path is not None
        prefix = job.outputs_path.parent
        work_dir = prefix / "work"  # code bundles extract here (--dest .)
        timer: asyncio.TimerHandle | None = None
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            ensure_inputs_file(job)  # the runtime reads its inputs from the path
            args = fill_args(spec.args, placeholder_values(job, spec))
            if not args or args[0] != "a0":
                raise _SpecError(f"the task's container args do not start with the a0 runtime: {args[:3]!r}")
            env = runtime_env(
                job, spec, endpoint=self._endpoint(), base=os.environ, python_path=[*self._python_path, os.getcwd()]
            )
            self._update(run, "INITIALIZING")
            with open(job.log_path, "ab") as log_file:  # noqa: ASYNC230 (a local file, opened, not read)
                run.proc = await asyncio.create_subprocess_exec(
                    self.python.path, "-c", BOOTSTRAP, *args,
                    cwd=work_dir, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file, stderr=log_file, start_new_session=True,
                )  # fmt: skip
            if run.done:  # aborted while starting
                self._kill(run)
            self._update(run, "RUNNING")
            if job.timeout_s is not None:
                timer = asyncio.get_running_loop().call_later(job.timeout_s, self._on_timeout, run)
            rc = await run.proc.wait()
            if run.done:
                return
            result = read_result(prefix, rc, _tail(job.log_path))
            self._finish(
                run,
                JobUpdate(
                    job.job_id, result.phase, result.error_kind, result.error_code, result.error_message,
                    retryable=result.retryable,
                ),
            )  # fmt: skip
        except _SpecError as e:
            self._fail(run, "BadTaskSpec", str(e))
        except OSError as e:
            self._fail(run, "RuntimeStartFailed", f"cannot start the task's runtime with {self.python.path}: {e}")
        finally:
            if timer is not None:
                timer.cancel()
            if not run.done:  # cancelled (stop): nothing else will end it
                self._finish(run, JobUpdate(job.job_id, "ABORTED", error_message="devserver stopped"))
            self._kill(run)
            self._dispatch()

    def _on_timeout(self, run: _Run) -> None:
        if run.done:
            return
        message = f"task exceeded its timeout of {run.job.timeout_s:g}s and was killed"
        note_in_log(run.job, message)
        self._finish(run, JobUpdate(run.job.job_id, "TIMED_OUT", "USER", "TaskTimeout", message))
        self._kill(run)

    def _fail(self, run: _Run, code: str, message: str) -> None:
        note_in_log(run.job, message)
        self._finish(run, JobUpdate(run.job.job_id, "FAILED", "SYSTEM", code, message))

    def _update(self, run: _Run, phase: str) -> None:
        if not run.done:
            self._emit(run, JobUpdate(run.job.job_id, phase))

    def _finish(self, run: _Run, update: JobUpdate) -> None:
        if run.done:
            return
        run.done = True
        self._runs.pop(run.job.job_id, None)
        self._emit(run, update)
        if self._running:
            asyncio.get_running_loop().call_soon(self._dispatch)  # a parent's child ended: it may hold a slot again

    @staticmethod
    def _emit(run: _Run, update: JobUpdate) -> None:
        try:
            run.on_update(update)
        except Exception:
            log.exception("devserver SDK runner: on_update failed for job %s", update.job_id)

    @staticmethod
    def _kill(run: _Run) -> None:
        proc = run.proc
        if proc is None:
            return
        try:
            # The runtime leads its own group: what it started dies with it, even after it exited.
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

    @staticmethod
    async def _reap(runs: Sequence[_Run]) -> None:
        waits = [r.proc.wait() for r in runs if r.proc is not None]
        tasks = [r.task for r in runs if r.task is not None and not r.task.done()]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), _KILL_WAIT_S)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_KILL_WAIT_S)


class _SpecError(Exception):
    pass


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
