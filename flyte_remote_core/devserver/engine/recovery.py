"""Restart recovery: what a previous devserver process left live is resumed, not failed.

A durable backend picks up where it stopped (Temporal's server re-dispatches the tasks of a
dead worker; Airflow's scheduler re-queues task instances orphaned by a dead executor), so a
devserver started over an existing data folder does the same, action by action:

* QUEUED (or waiting for resources): nothing ran yet, so the same attempt is launched again.
* INITIALIZING, RUNNING (or paused): the attempt's process is gone (workers and SDK runtimes exit with
  their server), so that attempt counts as failed with a SYSTEM ``DevserverRestarted`` error.
  With retries left (the task's budget, as for any other failure) a new attempt is queued;
  without, the action fails with that error, whose message says the devserver restarted.
* A live trace action was recorded as its parent reported it; nothing here can run it again,
  so it fails with the same error.

Parents are handled before their children (creation order); a parent that fails this way
aborts its live children, as any ending parent does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flyteidl2.workflow import run_definition_pb2 as rd

from .actions import ActionStore
from .attempts import Attempts
from .catalog import Catalog
from .model import FAILED, INITIALIZING, KIND_SYSTEM, LIVE_SQL_CONDITION, TERMINAL_PHASES, Key, P, finish, log

RESTART_CODE = "DevserverRestarted"
_LIVE_SQL = (
    "SELECT project, domain, run, name, inputs_uri FROM actions"
    f" WHERE {LIVE_SQL_CONDITION}"
    " ORDER BY created_at, run, name"
)


@dataclass
class Resumed:
    """What a restart did with the live actions it found."""

    requeued: int = 0  # QUEUED: launched again
    retried: int = 0  # were running: a new attempt within the retry budget
    failed: int = 0  # were running with no retries left (or could not be run again)

    @property
    def total(self) -> int:
        return self.requeued + self.retried + self.failed


@dataclass(eq=False)
class Recovery:
    catalog: Catalog
    actions: ActionStore
    attempts: Attempts

    def count_live(self) -> int:
        """How many actions a previous process left live (before serving, for the log)."""
        return len(self.actions.store.all(_LIVE_SQL))

    def resume(self) -> Resumed:
        """On the event loop, once the runner is starting: resume every live action (see the module)."""
        done = Resumed()
        for project, domain, run, name, inputs_uri in self.actions.store.all(_LIVE_SQL):
            key: Key = (project, domain, run, name)
            det = self.actions.get_action(key)  # re-read: a parent failed earlier may have aborted it
            if det is None or det.status.phase in TERMINAL_PHASES:
                continue
            self._resume_one(key, det, inputs_uri or "", done)
        if done.total:
            log.warning(
                "devserver: resumed the actions a previous process left live: %d queued again, "
                "%d retried, %d failed (no retries left)",
                done.requeued, done.retried, done.failed,
            )  # fmt: skip
        return done

    def _resume_one(self, key: Key, det: rd.ActionDetails, inputs_uri: str, done: Resumed) -> None:
        now = time.time()
        phase = det.status.phase
        if det.metadata.action_type == rd.ACTION_TYPE_TRACE:
            self._fail(key, det, restart_error(det, retries=0), now)
            done.failed += 1
            return
        task = det.metadata.task.id
        target = self.catalog.resolve_target(task.name, task.version, det.task)
        if phase < INITIALIZING:  # QUEUED (or waiting for resources): no process had taken it
            # Never started (or its start was lost with the process): the same attempt again.
            self.attempts.start(key, target, inputs_uri)
            done.requeued += 1
            return
        retries = target.retries if target is not None else 0
        error = restart_error(det, retries=retries)
        if target is not None and det.status.attempts <= retries:
            self.attempts.retry(key, det, FAILED, error, target, inputs_uri, now)  # the lost attempt failed
            done.retried += 1
            return
        self._fail(key, det, error, now)
        done.failed += 1

    def _fail(self, key: Key, det: rd.ActionDetails, error: rd.ErrorInfo, now: float) -> None:
        finish(det, FAILED, now, error=error)
        self.actions.save(det)
        self.attempts.abort_children(key, "the parent action failed when the devserver restarted")


def restart_error(det: rd.ActionDetails, *, retries: int) -> rd.ErrorInfo:
    """The error of an attempt the restart cut short; the message says whether retries were left."""
    attempt = det.status.attempts
    was = P.ActionPhase.Name(det.status.phase).removeprefix("ACTION_PHASE_")
    if attempt <= retries:
        tail = f"it is retried (attempt {attempt + 1} of at most {retries + 1})"
    else:
        tail = f"no retries were left ({retries} allowed), so the action failed"
    message = f"the devserver restarted while attempt {attempt} of this action was {was}; {tail}"
    return rd.ErrorInfo(message=message, kind=KIND_SYSTEM, code=RESTART_CODE)
