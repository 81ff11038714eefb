"""The worker-process pool: the :class:`~.interface.Runner` for Python-function tasks.

Why processes: a task that crashes (``os._exit``, a segfault), hangs or leaks must not
take the server down, and a hung task can only be stopped by killing its process.

Why not ``fork``: the server process has grpcio loaded, and grpcio and ``fork()`` do not
mix. Workers are fresh interpreters (``subprocess`` execs immediately, like the
multiprocessing "spawn" method, but without multiprocessing re-importing the server's
``__main__`` in every worker). See :mod:`.worker` for the wire protocol.

Why a pool: starting an interpreter costs far more than running a trivial task, so N
workers (default 2) stay up and take jobs one at a time; a worker that dies or is
killed (abort, timeout) is replaced.

Everything here runs on the server's event loop; ``on_update`` callbacks are called on
that loop, in phase order, with exactly one terminal update per job.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .interface import Job, JobUpdate, note_in_log
from .worker import HEADER, encode_frame

__all__ = ["Executor"]

log = logging.getLogger(__name__)

_PKG_PARENT = str(Path(__file__).resolve().parents[3])  # so workers import this very package
_WORKER_MAIN = "flyte_remote_core.devserver.execution.worker"
_MAX_START_FAILURES = 5  # consecutive workers dying before "ready": give up on queued jobs
_KILL_WAIT_S = 5.0


@dataclass(eq=False)
class _JobState:
    job: Job
    on_update: Callable[[JobUpdate], None]
    done: bool = False
    slot: _Slot | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class _Slot:
    """One worker process and the job it is running."""

    proc: asyncio.subprocess.Process
    ready: asyncio.Future[None]
    job: _JobState | None = None
    reader: asyncio.Task[None] | None = None
    killed: bool = False


class Executor:
    def __init__(self, *, workers: int = 2, extra_sys_path: Sequence[str] = ()) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._size = workers
        self._sys_path = [str(Path(p).resolve()) for p in extra_sys_path] + [os.getcwd()]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: set[_Slot] = set()
        self._idle: collections.deque[_Slot] = collections.deque()
        self._queue: collections.deque[_JobState] = collections.deque()
        self._jobs: dict[str, _JobState] = {}
        self._respawns: set[asyncio.Task[None]] = set()
        self._start_failures = 0
        self._running = False

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._running = True
        try:
            slots = [await self._spawn() for _ in range(self._size)]
            await asyncio.wait_for(asyncio.gather(*(s.ready for s in slots)), timeout=120)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Kill every worker; jobs still queued or running end ABORTED. Never hangs."""
        self._running = False
        for t in list(self._respawns):
            t.cancel()
        for state in list(self._queue) + [s.job for s in self._slots if s.job is not None]:
            self._emit(state, JobUpdate(state.job.job_id, "ABORTED", error_message="executor stopped"))
        self._queue.clear()
        slots = list(self._slots)
        for slot in slots:
            self._kill(slot)
        procs = [s.proc.wait() for s in slots]
        if procs:
            try:
                await asyncio.wait_for(asyncio.gather(*procs, return_exceptions=True), _KILL_WAIT_S)
            except TimeoutError:
                log.warning("devserver executor: some workers did not exit after SIGKILL")
        tasks = [s.reader for s in slots if s.reader is not None] + list(self._respawns)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_KILL_WAIT_S)
        self._slots.clear()
        self._idle.clear()

    async def __aenter__(self) -> Executor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- public operations ---------------------------------------------------------

    def submit(self, job: Job, on_update: Callable[[JobUpdate], None]) -> None:
        """Queue a job; call on the event loop thread. Updates arrive later, never from inside submit."""
        if not self._running or self._loop is None:
            raise RuntimeError("executor is not running")
        if job.job_id in self._jobs:
            raise ValueError(f"job {job.job_id!r} is already queued or running")
        state = _JobState(job, on_update)
        self._jobs[job.job_id] = state
        self._queue.append(state)
        self._call_soon(self._dispatch)

    async def abort(self, job_id: str, reason: str = "aborted") -> bool:
        """Drop a queued job or kill the worker running it. False if unknown or finished.

        Returns once the job's process is gone, so its code no longer runs.
        """
        state = self._jobs.get(job_id)
        if state is None or state.done:
            return False
        slot = state.slot
        self._emit(state, JobUpdate(job_id, "ABORTED", error_message=reason))
        if slot is None:
            self._queue.remove(state)
            return True
        slot.job = None
        self._kill(slot)
        try:
            await asyncio.wait_for(asyncio.shield(slot.proc.wait()), _KILL_WAIT_S)
        except TimeoutError:
            log.warning("devserver executor: worker %s survived SIGKILL for %ss", slot.proc.pid, _KILL_WAIT_S)
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def worker_pids(self) -> list[int]:
        return [s.proc.pid for s in self._slots]

    # -- workers -------------------------------------------------------------------

    async def _spawn(self) -> _Slot:
        assert self._loop is not None
        config = json.dumps({"sys_path": self._sys_path})
        boot = f"import sys; sys.path.insert(0, {_PKG_PARENT!r}); from {_WORKER_MAIN} import main; main()"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            boot,
            config,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            # A new session: a Ctrl-C aimed at the server's terminal must not kill
            # workers behind the executor's back; the executor kills them itself.
            start_new_session=True,
        )
        slot = _Slot(proc=proc, ready=self._loop.create_future())
        self._slots.add(slot)
        slot.reader = asyncio.create_task(self._read_loop(slot))
        return slot

    async def _read_loop(self, slot: _Slot) -> None:
        stream = slot.proc.stdout
        assert stream is not None
        try:
            while True:
                header = await stream.readexactly(HEADER.size)
                body = await stream.readexactly(HEADER.unpack(header)[0])
                self._on_message(slot, json.loads(body))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker is gone; its exit code says why
        except Exception:
            log.exception("devserver executor: bad message from worker %s", slot.proc.pid)
            self._kill(slot)
        rc = await slot.proc.wait()
        self._on_exit(slot, rc)

    def _on_message(self, slot: _Slot, msg: dict[str, Any]) -> None:
        if "ready" in msg:
            self._start_failures = 0
            if not slot.ready.done():
                slot.ready.set_result(None)
            self._idle.append(slot)
            self._dispatch()
            return
        state = slot.job
        if state is None or msg.get("job_id") != state.job.job_id:
            return  # a late message for a job already aborted or timed out
        update = JobUpdate(
            state.job.job_id,
            msg["phase"],
            error_kind=msg.get("error_kind"),
            error_code=msg.get("error_code"),
            error_message=msg.get("error_message"),
        )
        self._emit(state, update)
        if update.terminal:
            slot.job = None
            self._idle.append(slot)
            self._dispatch()

    def _on_exit(self, slot: _Slot, rc: int) -> None:
        self._slots.discard(slot)
        if slot in self._idle:
            self._idle.remove(slot)
        if not slot.ready.done():
            slot.ready.set_exception(RuntimeError(f"devserver worker failed to start ({_describe_exit(rc)})"))
            slot.ready.exception()  # mark retrieved: a replacement has nobody awaiting it
            self._start_failures += 1
        state = slot.job
        if state is not None and not state.done:
            message = f"worker process died while running the task ({_describe_exit(rc)})"
            note_in_log(state.job, message)
            self._emit(state, JobUpdate(state.job.job_id, "FAILED", "SYSTEM", "WorkerCrashed", message))
        if not slot.killed and state is None and slot.ready.done() and slot.ready.exception() is None:
            log.warning("devserver executor: idle worker %s exited (%s)", slot.proc.pid, _describe_exit(rc))
        if self._running:
            if self._start_failures >= _MAX_START_FAILURES:
                self._fail_queue(f"devserver workers keep failing to start ({_describe_exit(rc)})")
            task = asyncio.create_task(self._respawn())
            self._respawns.add(task)
            task.add_done_callback(self._respawns.discard)

    async def _respawn(self) -> None:
        # Back off while replacements die before becoming ready (a broken environment).
        delay = 0.0 if self._start_failures == 0 else min(0.1 * 2**self._start_failures, 5.0)
        while self._running:
            if delay:
                await asyncio.sleep(delay)
            try:
                await self._spawn()
                return
            except Exception:
                log.exception("devserver executor: cannot start a worker")
                delay = min(max(delay * 2, 0.5), 5.0)

    def _kill(self, slot: _Slot) -> None:
        slot.killed = True
        if slot.proc.returncode is not None:
            return
        try:
            # Each worker leads its own process group: kill processes the task started too.
            os.killpg(slot.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                slot.proc.kill()

    # -- scheduling ----------------------------------------------------------------

    def _dispatch(self) -> None:
        while self._queue and self._idle and self._running:
            slot = self._idle.popleft()
            if slot.killed or slot.proc.returncode is not None:
                continue
            state = self._queue.popleft()
            job = state.job
            msg: dict[str, object] = {
                "job_id": job.job_id,
                "module": job.module,
                "function": job.function,
                "inputs_path": str(job.inputs_path),
                "outputs_path": str(job.outputs_path),
                "log_path": str(job.log_path),
                "attempt": job.attempt,
            }
            if job.inputs is not None:  # the worker decodes them; no file is needed
                msg["inputs"] = base64.b64encode(job.inputs).decode("ascii")
            slot.job = state
            state.slot = slot
            assert slot.proc.stdin is not None
            # A worker that just died raises here: _read_loop reports the job as crashed.
            with contextlib.suppress(ConnectionError, RuntimeError):
                slot.proc.stdin.write(encode_frame(msg))
            self._emit(state, JobUpdate(job.job_id, "INITIALIZING"))
            if job.timeout_s is not None and self._loop is not None:
                # The clock starts when a worker takes the job (module import included).
                state.timer = self._loop.call_later(job.timeout_s, self._on_timeout, slot, state)

    def _on_timeout(self, slot: _Slot, state: _JobState) -> None:
        if state.done or slot.job is not state:
            return
        message = f"task exceeded its timeout of {state.job.timeout_s:g}s and was killed"
        note_in_log(state.job, message)
        slot.job = None
        self._emit(state, JobUpdate(state.job.job_id, "TIMED_OUT", "USER", "TaskTimeout", message))
        self._kill(slot)

    def _fail_queue(self, message: str) -> None:
        while self._queue:
            state = self._queue.popleft()
            self._emit(state, JobUpdate(state.job.job_id, "FAILED", "SYSTEM", "WorkerStartFailed", message))

    def _emit(self, state: _JobState, update: JobUpdate) -> None:
        if state.done:
            return
        if update.terminal:
            state.done = True
            if state.timer is not None:
                state.timer.cancel()
            self._jobs.pop(state.job.job_id, None)
        try:
            state.on_update(update)
        except Exception:
            log.exception("devserver executor: on_update callback failed for job %s", update.job_id)

    def _call_soon(self, fn: Callable[[], None]) -> None:
        assert self._loop is not None
        self._loop.call_soon(fn)


def _describe_exit(rc: int | None) -> str:
    if rc is None:
        return "exit status unknown"
    if rc < 0:
        try:
            return f"killed by signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"
