"""Engine mixin for execution: launching attempts on the executor and applying job updates.

Covers the per-attempt output/log paths, submitting jobs, mapping executor phases
onto actions, retries (back to QUEUED with ``attempts + 1``), timeouts, aborts and
the admin hold (a held run stays RUNNING; its terminal update is stashed in
:class:`~._engine_common.RunControl` until :meth:`ExecutionMixin.release`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path

from flyteidl2.workflow import run_definition_pb2 as rd

from ._engine_common import (
    ABORTED,
    DEFAULT_ABORT_REASON,
    FAILED,
    INITIALIZING,
    JOB_PHASES,
    KIND_SYSTEM,
    KIND_USER,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    RunControl,
    Target,
    file_uri,
    log,
    set_phase,
    transition,
    ts,
    uri_to_path,
)
from ._store import TERMINAL_PHASES


class ExecutionMixin:
    """Job submission and state changes; needs the engine's executor fields and state mixin."""

    control: RunControl
    storage_dir: Path
    logs_dir: Path
    _executor_ready: asyncio.Future | None

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
        phase = JOB_PHASES.get(str(getattr(upd.phase, "name", upd.phase)).upper())
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
                set_phase(det, phase, now)
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
                        set_phase(det, ph, now)
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
                    transition(det.attempts[-1], ph, now)
            self._finish(det, SUCCEEDED, now)
            self._save(det, outputs_uri=outputs_uri)
            return
        target, inputs_uri = self._targets.get(key, (None, ""))
        retries = target.retries if target else 0
        att = det.attempts[-1] if det.attempts else det.attempts.add(attempt=attempt)
        if attempt <= retries and error is not None and error.code != "TaskNotRunnable":
            # Retry: record the failed attempt, bump attempts, back to QUEUED.
            transition(att, phase, now)
            att.phase = phase
            att.end_time.CopyFrom(ts(now))
            att.error_info.CopyFrom(error)
            det.status.attempts = attempt + 1
            det.status.phase = QUEUED
            nxt = det.attempts.add(attempt=attempt + 1, phase=QUEUED)
            nxt.start_time.CopyFrom(ts(now))
            transition(nxt, QUEUED, now)
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
