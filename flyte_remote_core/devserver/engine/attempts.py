"""The attempt state machine: launching attempts as jobs and applying what the runner reports.

Covers the per-attempt output and log paths, submitting jobs through the
:class:`~.queue.JobQueue`, mapping job phases onto actions, retries (back to QUEUED
with ``attempts + 1``), timeouts, aborts, and the admin hold (a held run stays RUNNING;
its end is stashed in :class:`~.holds.Holds` until :meth:`Attempts.release`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from flyteidl2.workflow import run_definition_pb2 as rd

from ..execution.interface import ContainerSpec, Job, JobUpdate
from .actions import ActionStore
from .holds import Holds, StashedEnd
from .model import (
    ABORTED,
    DEFAULT_ABORT_REASON,
    FAILED,
    INITIALIZING,
    KIND_SYSTEM,
    KIND_USER,
    QUEUED,
    ROOT_ACTION,
    RUNNING,
    SUCCEEDED,
    TERMINAL_PHASES,
    TIMED_OUT,
    Key,
    Phase,
    Target,
    file_uri,
    finish,
    log,
    set_phase,
    transition,
    ts,
    uri_to_path,
)
from .queue import Background, JobQueue

RELEASE_CHUNK = 100  # released ends applied between two yields to the event loop

# Job phases (execution's names) -> action phases.
JOB_PHASES = {
    "QUEUED": QUEUED,
    "INITIALIZING": INITIALIZING,
    "RUNNING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "TIMED_OUT": TIMED_OUT,
    "ABORTED": ABORTED,
}


@dataclass(eq=False)
class Attempts:
    actions: ActionStore
    holds: Holds
    queue: JobQueue
    background: Background
    _: KW_ONLY
    storage_dir: Path  # outputs: storage_dir/runs/<project>/<domain>/<run>/<action>/<attempt>/
    logs_dir: Path  # logs: logs_dir/<project>/<domain>/<run>/<action>/<attempt>.log
    # What each launched action runs and reads, kept for its retries until it ends.
    _targets: dict[Key, tuple[Target | None, str]] = field(default_factory=dict, init=False, repr=False)
    _no_retry: set[tuple[Key, int]] = field(default_factory=set, init=False, repr=False)  # non-recoverable ends

    # ------------------------------------------------------------------ paths
    def attempt_dir(self, key: Key, attempt: int) -> Path:
        return Path(self._attempt_dir(key, attempt))

    def log_path(self, key: Key, attempt: int) -> Path:
        return Path(self.attempt_files(key, attempt)[1])

    def _attempt_dir(self, key: Key, attempt: int) -> str:
        # Joined as a string: pathlib's joins were a visible share of a launch's cost.
        return f"{self.storage_dir}/runs/{key[0]}/{key[1]}/{key[2]}/{key[3]}/{attempt}"

    def attempt_files(self, key: Key, attempt: int) -> tuple[str, str]:
        """The attempt's outputs file and log file."""
        log = f"{self.logs_dir}/{key[0]}/{key[1]}/{key[2]}/{key[3]}/{attempt}.log"
        return f"{self._attempt_dir(key, attempt)}/outputs.pb", log

    def locate_attempt(self, key: Key, det: rd.ActionDetails, files: tuple[str, str] | None = None) -> bool:
        """Record where the current attempt's log and outputs go; False when ``det`` has them already.

        Called on a new action before it is stored and on each new attempt before it is saved,
        so that launching it needs no save of its own. ``files``: the attempt's, if known.
        """
        attempt = det.status.attempts
        outputs_file, log_file = files or self.attempt_files(key, attempt)
        log_uri = file_uri(log_file)
        outputs_uri = file_uri(outputs_file)
        att = det.attempts[-1]
        if att.outputs.output_uri == outputs_uri and [i.uri for i in att.log_info] == [log_uri]:
            return False
        del att.log_info[:]
        att.log_info.add(uri=log_uri, name="devserver logs")
        att.logs_available = True
        att.outputs.output_uri = outputs_uri
        return True

    # ------------------------------------------------------------------ launching
    def start(self, key: Key, target: Target | None, inputs_uri: str) -> None:
        """Launch the action's current attempt (in the background)."""
        self.background.spawn(self._launch(key, target, inputs_uri))

    async def _launch(self, key: Key, target: Target | None, inputs_uri: str) -> None:
        det = self.actions.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES:
            return
        attempt = det.status.attempts
        if target is None:
            message = (
                f"the devserver cannot run task {det.metadata.task.id.name!r}: it was not registered "
                "with --tasks/tasks=[...] and its spec names no importable module"
            )
            await self._apply_terminal(key, attempt, FAILED, rd.ErrorInfo(
                kind=KIND_SYSTEM, code="TaskNotRunnable", message=message))  # fmt: skip
            return
        inputs_path = uri_to_path(inputs_uri)
        if inputs_path is None:
            await self._apply_terminal(key, attempt, FAILED, rd.ErrorInfo(
                kind=KIND_SYSTEM, code="InputsUnreadable",
                message=f"the devserver can only read file:// inputs, got {inputs_uri!r}"))  # fmt: skip
            return
        runner = await self.queue.runner()
        det = self.actions.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts != attempt:
            return
        if runner is None:
            await self._apply_terminal(key, attempt, FAILED, rd.ErrorInfo(
                kind=KIND_SYSTEM, code="ExecutorUnavailable",
                message=f"the devserver executor is not available: {self.queue.error}"))  # fmt: skip
            return
        # The runner makes these folders and the log file where the job runs (a worker process
        # or the SDK runner): a launch costs the serving loop no file system calls, and readers
        # take a log that is not there yet as empty.
        files = self.attempt_files(key, attempt)
        if self.locate_attempt(key, det, files):  # not done when the action was stored
            self.actions.save(det)
        job = Job(
            job_id=f"{key[0]}/{key[1]}/{key[2]}/{key[3]}#{attempt}",
            module=target.module,
            function=target.function,
            inputs_path=inputs_path,
            outputs_path=Path(files[0]),
            log_path=Path(files[1]),
            timeout_s=target.timeout_s,
            attempt=attempt,
            container=self._container(key, det, target) if target.is_container else None,
            inputs=self.actions.inputs.data(inputs_uri),
        )
        self._targets[key] = (target, inputs_uri)
        self.queue.submit(runner, job, key, attempt, self._on_update)

    def run_base(self, key: Key) -> Path:
        """The run's folder: every action's output prefix (``<action>/<attempt>``) lives under it."""
        return self.storage_dir / "runs" / key[0] / key[1] / key[2]

    def _container(self, key: Key, det: rd.ActionDetails, target: Target) -> ContainerSpec:
        root = self.actions.get_action((*key[:3], ROOT_ACTION)) if key[3] != ROOT_ACTION else det
        started = root.status.start_time if root is not None else det.status.start_time
        parent = det.metadata.parent
        return ContainerSpec(
            args=list(target.args), env=dict(target.env),
            project=key[0], domain=key[1], org=det.id.run.org, run_name=key[2], action_name=key[3],
            run_base=self.run_base(key),
            run_start_time=started.ToDatetime(tzinfo=dt.UTC).isoformat(),
            parent_job_id=self.queue.job_of((*key[:3], parent)) if parent else None,
        )  # fmt: skip

    # ------------------------------------------------------------------ updates
    def _on_update(self, upd: JobUpdate) -> None:
        """A job update from the runner (delivered on the event loop)."""
        if self.queue.closed:
            return
        phase = JOB_PHASES.get(upd.phase)
        if phase is None:
            return
        entry = self.queue.attempt_of(upd.job_id, done=phase in TERMINAL_PHASES)
        if entry is None:
            return
        key, attempt = entry
        det = self.actions.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts != attempt:
            return
        now = time.time()
        if not upd.retryable:
            self._no_retry.add((key, attempt))
        if phase in (INITIALIZING, RUNNING):
            if phase > det.status.phase:
                set_phase(det, phase, now)
                self.actions.save(det)
            return
        error = None
        if phase != SUCCEEDED:
            kind = (upd.error_kind or "USER").upper()
            error = rd.ErrorInfo(
                kind=KIND_SYSTEM if kind.endswith("SYSTEM") else KIND_USER,
                code=upd.error_code or ("Timeout" if phase == TIMED_OUT else ""),
                message=upd.error_message or "",
            )
        if self.holds.is_held(key[2]):
            # Hold: keep it RUNNING, apply the end when released.
            if det.status.phase < RUNNING:
                for ph in (INITIALIZING, RUNNING):
                    if ph > det.status.phase:
                        set_phase(det, ph, now)
                self.actions.save(det)
            self.holds.stash(key, StashedEnd(attempt, phase, error))
            return
        self.background.spawn(self._apply_terminal(key, attempt, phase, error))

    def release(self, run_names: list[str] | None = None) -> int:
        """Release held runs (all when ``run_names`` is None); returns how many were held."""
        count, ends = self.holds.release(run_names)
        if ends:
            self.background.spawn(self._apply_released(ends))
        return count

    async def _apply_released(self, ends: list[tuple[Key, StashedEnd]]) -> None:
        # A few at a time, yielding between: watch streams send each run's end while a burst of
        # thousands is still being applied, instead of after the last one.
        for i, (key, end) in enumerate(ends):
            if i and i % RELEASE_CHUNK == 0:
                await asyncio.sleep(0)
            try:
                await self._apply_terminal(key, end.attempt, end.phase, end.error)
            except Exception:  # one run's failure must not leave the rest of the burst held
                log.exception("applying the released end of %s failed", "/".join(key))

    async def _apply_terminal(self, key: Key, attempt: int, phase: Phase, error: rd.ErrorInfo | None) -> None:
        retryable = (key, attempt) not in self._no_retry
        self._no_retry.discard((key, attempt))  # read once, here, whatever becomes of this end
        det = self.actions.get_action(key)
        if det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts != attempt:
            return
        now = time.time()
        self.queue.forget(key)
        # A retry launches again (and records its target again); every other end forgets it.
        target, inputs_uri = self._targets.pop(key, (None, ""))
        if phase == SUCCEEDED:
            # A runner reports SUCCEEDED once the outputs are written (execution/interface.py):
            # no look at the disk between the run's end and its watchers being told. Where they
            # are was recorded when the attempt was created (locate_attempt).
            recorded = det.attempts[-1].outputs.output_uri if det.attempts else ""
            outputs_uri = recorded or file_uri(self.attempt_files(key, attempt)[0])
            for ph in (INITIALIZING, RUNNING):
                if det.attempts and det.attempts[-1].phase < ph:
                    transition(det.attempts[-1], ph, now)
            finish(det, SUCCEEDED, now)
            self.actions.save(det, outputs_uri=outputs_uri)
            self.abort_children(key, "the parent action ended")
            return
        retries = target.retries if target else 0
        att = det.attempts[-1] if det.attempts else det.attempts.add(attempt=attempt)
        if attempt <= retries and error is not None and error.code != "TaskNotRunnable" and retryable:
            self.retry(key, det, phase, error, target, inputs_uri, now)
            return
        final_error = error
        if retries > 0 and error is not None and phase == FAILED:
            final_error = rd.ErrorInfo(
                kind=KIND_USER, code="MaxRetriesExceeded",
                message=f"failed after {attempt} attempts; last error: [{error.code or 'Error'}] {error.message}",
            )  # fmt: skip
            att.error_info.CopyFrom(error)
        finish(det, phase, now, error=final_error)
        self.actions.save(det)
        self.abort_children(key, "the parent action ended")

    def retry(
        self,
        key: Key,
        det: rd.ActionDetails,
        phase: Phase,
        error: rd.ErrorInfo,
        target: Target | None,
        inputs_uri: str,
        now: float,
    ) -> None:
        """Record the current attempt as ended in ``phase``, queue attempt ``attempts + 1`` and launch it."""
        attempt = det.status.attempts
        att = det.attempts[-1] if det.attempts else det.attempts.add(attempt=attempt)
        transition(att, phase, now)
        att.phase = phase
        att.end_time.CopyFrom(ts(now))
        att.error_info.CopyFrom(error)
        det.status.attempts = attempt + 1
        det.status.phase = QUEUED
        nxt = det.attempts.add(attempt=attempt + 1, phase=QUEUED)
        nxt.start_time.CopyFrom(ts(now))
        transition(nxt, QUEUED, now)
        self.locate_attempt(key, det)
        self.actions.save(det)
        self.start(key, target, inputs_uri)

    def children(self, key: Key) -> list[rd.ActionDetails]:
        """The actions enqueued by ``key`` (nested actions name their parent)."""
        if not self.actions.may_have_nested_actions(*key[:3]):
            return []
        return [d for d in self.actions.list_actions(*key[:3]) if d.metadata.parent == key[3] and d.id.name != key[3]]

    def abort_children(self, key: Key, reason: str) -> None:
        """Abort every live action below ``key`` (their processes are stopped)."""
        for child in self.children(key):
            if child.status.phase not in TERMINAL_PHASES:
                self.abort((*key[:3], child.id.name), reason)

    # ------------------------------------------------------------------ aborts
    def abort(self, key: Key, reason: str) -> bool:
        """Abort the action (its job is stopped); False when there is no such action."""
        det = self.actions.get_action(key)
        if det is None:
            return False
        if det.status.phase in TERMINAL_PHASES:
            return True
        finish(det, ABORTED, time.time(), abort=rd.AbortInfo(reason=reason or DEFAULT_ABORT_REASON))
        self.actions.save(det)
        self.holds.drop(key)  # a held end, stashed, is never applied: its no-retry mark goes too
        self._no_retry.discard((key, det.status.attempts))
        self._targets.pop(key, None)
        self.queue.abort(key)
        self.abort_children(key, reason)
        return True
