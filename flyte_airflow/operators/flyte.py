"""FlyteRunOperator: launch a deployed Flyte task, wait for it, return its outputs.

All remote semantics live in :class:`flyte_airflow.hooks.flyte.FlyteHook` and the core
client; this module only orchestrates: validate, launch idempotently, announce the run
in XCom, then wait synchronously (streaming the remote logs) or defer to
:class:`flyte_airflow.triggers.flyte.FlyteRunTrigger`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from flyte_airflow._compat import (
    HAS_RESUMABLE,
    AirflowException,
    AirflowFailException,
    ResumableJobMixin,
    default_deferrable,
)
from flyte_airflow._event import FlyteRunEvent
from flyte_airflow.hooks.flyte import FlyteHook
from flyte_airflow.links.flyte import FlyteRunLink, announce_run
from flyte_airflow.operators._kill import LAUNCH_WAIT_SECONDS, LaunchGuard
from flyte_airflow.triggers.flyte import FlyteRunTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flyte_remote_core import Task
    from flyte_remote_core.orchestration import RunLike as Run

__all__ = ["HAS_RESUMABLE", "FlyteRunOperator"]

# task_state_store key naming the run a try handed to its trigger (it survives clears and retries).
DEFERRED_RUN_KEY = "flyte_deferred_run"
# The trigger holds an event this long after the deferral (Airflow 3.3 races fast triggers): the
# scheduler must see the deferring worker's exit first. Measured in a real deployment on 2 cores
# with 8 busy workers, that lag reached 6.2 s, so 5 s lost some of 100 mapped tasks.
TRIGGER_HOLD_S = 10.0


def _seconds(value: timedelta | float | int | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


class FlyteRunOperator(ResumableJobMixin, BaseOperator):
    """Run a deployed Flyte 2 task and return its outputs.

    :param task_name: the deployed task, ``<module>.<function>`` (templated).
    :param inputs: task inputs by name (templated, nested values too; ``XComArg`` values
        are resolved). String values are coerced to the declared input types. Invalid
        inputs fail the task before anything is launched.
    :param version: task version (templated); the latest deployed version by default.
    :param project: Flyte project (templated); the connection's by default.
    :param domain: Flyte domain (templated); the connection's by default.
    :param run_name: explicit run name (templated), used for the first try; later tries
        use ``<run_name>-<try>`` (so keep it at most 27 characters). By default the name
        is derived from dag_id, task_id, run_id, map_index, the try, the task and the
        inputs, so a retry attaches to the run of an earlier try that is still active (or
        reuses it if it succeeded) only when the inputs are the same: a cleared task
        with new inputs launches a new run.
    :param wait_for_termination: wait for the run to end (otherwise return after launch).
    :param deferrable: wait in the triggerer instead of the worker.
    :param wait_before_defer: seconds a deferrable task first waits in the worker (default 5);
        a run that ends by then completes without deferring. Airflow 3.3's scheduler races
        triggers that fire within about a second of deferring (apache/airflow #67287), and a
        trigger round trip is slower than this wait for short runs anyway. 0 defers at once.
        A trigger never fires sooner than ``trigger_hold`` seconds after the deferral, for the same reason.
    :param trigger_hold: see ``wait_before_defer`` (default 10; 0 turns the guard off on an Airflow
        whose scheduler no longer races resumed triggers).
    :param timeout: maximum time to wait (seconds or timedelta) from the start of the try;
        past it the remote run is aborted and the task fails. Enforced while deferred too.
    :param cancel_on_kill: abort the remote run when the task is killed (worker side) or a
        deferred task is marked failed or cleared (triggerer side, Airflow >= 3.3).
    :param retry_on_user_error: let Airflow retry a run that failed with a USER error
        (off: the same code and inputs fail the same way).
    :param stream_logs: copy the remote task's log lines into the Airflow task log
        (synchronous mode).
    :param labels, envs, overwrite_cache, interruptible: run options.
    :param flyte_queue: the Flyte queue (cluster pool) the run goes to. Named so, because
        ``queue`` is Airflow's own executor queue and stays with ``BaseOperator``.
    :param flyte_conn_id: the Airflow connection to use.

    XCom: ``run_name`` and ``run_url`` (pushed before waiting), every output under its
    own name, and the ``return_value`` dict ``{output name: JSON-safe value}``.
    """

    template_fields: Sequence[str] = (
        "task_name",
        "inputs",
        "version",
        "project",
        "domain",
        "run_name",
        "labels",
        "envs",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"inputs": "json", "labels": "json", "envs": "json"}
    operator_extra_links = (FlyteRunLink(),)
    ui_color = "#e6dcfb"
    external_id_key = "flyte_run"

    def __init__(
        self,
        *,
        task_name: str,
        inputs: Mapping[str, Any] | None = None,
        version: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        run_name: str | None = None,
        wait_for_termination: bool = True,
        deferrable: bool | None = None,
        wait_before_defer: float = 5.0,
        trigger_hold: float = TRIGGER_HOLD_S,
        timeout: timedelta | float | None = None,
        cancel_on_kill: bool = True,
        retry_on_user_error: bool = False,
        labels: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        overwrite_cache: bool = False,
        interruptible: bool | None = None,
        flyte_queue: str | None = None,
        stream_logs: bool = True,
        flyte_conn_id: str = FlyteHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task_name = task_name
        self.inputs = dict(inputs or {}) if not hasattr(inputs, "resolve") else inputs
        self.version = version
        self.project = project
        self.domain = domain
        self.run_name = run_name
        self.wait_for_termination = wait_for_termination
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)
        if wait_before_defer < 0:
            raise ValueError(f"wait_before_defer must be >= 0, got {wait_before_defer!r}")
        self.wait_before_defer = float(wait_before_defer)
        if trigger_hold < 0:
            raise ValueError(f"trigger_hold must be >= 0, got {trigger_hold!r}")
        self.trigger_hold = float(trigger_hold)
        self.timeout = _seconds(timeout, "timeout")
        self.cancel_on_kill = cancel_on_kill
        self.retry_on_user_error = retry_on_user_error
        self.labels = labels
        self.envs = envs
        self.overwrite_cache = overwrite_cache
        self.interruptible = interruptible
        self.flyte_queue = flyte_queue
        self.stream_logs = stream_logs
        self.flyte_conn_id = flyte_conn_id
        self._hook: FlyteHook | None = None
        self._run: Run | None = None
        self._result: dict[str, Any] | None = None
        self._deadline: float | None = None
        self._digest = ""
        self._guard: LaunchGuard | None = None

    # -- helpers -----------------------------------------------------------------------------
    @property
    def hook(self) -> FlyteHook:
        if self._hook is None:
            self._hook = FlyteHook(self.flyte_conn_id, project=self.project, domain=self.domain)
        return self._hook

    def _close_hook(self) -> None:
        if self._hook is not None:
            self._hook.close()
            self._hook = None

    @staticmethod
    def idempotency_key(context: Context) -> str:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        map_index = -1 if map_index is None else map_index
        return f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{map_index}"

    def _announce(self, context: Context, run: Run) -> None:
        """Push the run's name, URL and link before anything waits."""
        announce_run(context["ti"], run.name, run.url)

    def _start_clock(self) -> None:
        if self._deadline is None and self.timeout is not None:
            self._deadline = time.time() + self.timeout

    def _prepare(self) -> tuple[Task, str]:
        """The task, and a digest of it and the rendered inputs; invalid inputs fail here, before any launch."""
        from flyte_remote_core import FlyteInputError
        from flyte_remote_core.orchestration import launch_identity

        hook = self.hook
        try:
            task = hook.get_task(self.task_name, self.version, project=self.project, domain=self.domain)
        except AirflowException:
            raise
        except Exception as exc:
            raise hook.exception_for(
                exc, f"could not read Flyte task {self.task_name!r} (version {self.version or 'latest'})"
            ) from None
        try:
            prepared = hook.validate_inputs(task, dict(self.inputs or {}))
        except FlyteInputError as exc:
            raise hook.exception_for(
                exc, f"invalid inputs for Flyte task {self.task_name!r}", note="; nothing was launched"
            ) from exc
        return task, hashlib.sha256(launch_identity(task, prepared).encode()).hexdigest()

    def _launch(self, context: Context, *, attach_earlier: bool = True) -> Run:
        """Validate the inputs against the task, then launch (or attach) idempotently.

        ``attach_earlier=False``: an earlier try's run that is still active is not attached to
        (it belongs to a trigger that aborts it on a clear; see :meth:`_supersede`)."""
        self._start_clock()
        hook = self.hook
        inputs = dict(self.inputs or {})
        task, self._digest = self._prepare()
        ti = context["ti"]
        guard = self._guard = self._guard or LaunchGuard()
        if guard.killed:
            raise AirflowFailException(f"the Airflow task was killed; Flyte task {self.task_name!r} was not launched")
        self._run = None  # on_kill must not take an earlier try's run for this launch's
        try:
            with guard.launching():
                outcome = hook.launch(
                    task,
                    inputs,
                    key=self.idempotency_key(context),
                    attempt=max(1, int(ti.try_number or 1)),
                    run_name=self.run_name,
                    project=self.project,
                    domain=self.domain,
                    labels=self.labels,
                    envs=self.envs,
                    overwrite_cache=self.overwrite_cache or None,
                    interruptible=self.interruptible,
                    queue=self.flyte_queue,
                    **({} if attach_earlier else {"attach_earlier": False}),
                )
                self._run = outcome.run
        except AirflowException:
            raise
        except Exception as exc:
            raise hook.exception_for(exc, f"could not launch Flyte task {self.task_name!r}") from None
        run = outcome.run
        if guard.killed:  # the kill landed while launching: on_kill may not have seen this run
            aborted = {True: "was aborted", False: "could NOT be aborted", None: "is being aborted"}[
                self._abort_on_kill(run)
            ]
            raise AirflowFailException(
                f"the Airflow task was killed while Flyte run {run.name} was being launched; "
                f"the run {aborted} ({run.url})"
            )
        self.log.info(outcome.describe(task.name))
        self._announce(context, run)
        return run

    def _finish(self, context: Context, event: FlyteRunEvent) -> dict[str, Any]:
        """Raise for a failed event; otherwise push every output under its own key and return them."""
        event.raise_for_status(retry_on_user_error=self.retry_on_user_error)
        ti = context["ti"]
        for name, value in event.outputs.items():
            ti.xcom_push(key=name, value=value)
        self.log.info(
            "Flyte run %s %s with outputs %s", event.run_name, event.phase or "SUCCEEDED", sorted(event.outputs)
        )
        return dict(event.outputs)

    def _wait_sync(self, context: Context, run: Run) -> dict[str, Any]:
        """Wait through the core; its result or outcome becomes the event ``_finish`` settles."""
        log_line = (lambda line: self.log.info("[flyte %s] %s", run.name, line)) if self.stream_logs else None
        self.log.info("Waiting for Flyte run %s (%s)", run.name, run.url)
        return self._finish(context, self.hook.wait_event(run, deadline=self._deadline, log_line=log_line))

    # -- ResumableJobMixin ---------------------------------------------------------------------
    def submit_job(self, context: Context) -> Any:
        run = self._launch(context)
        return {"run_name": run.name, "project": run.project, "domain": run.domain, "digest": self._digest}

    def get_job_status(self, external_id: Any, context: Context) -> str:
        # The stored run belongs to this try only if it was made for the same task version and
        # inputs: a cleared task re-rendered with new inputs must not get the old run's outputs
        # (task_state_store survives clears). "STALE" is neither active nor succeeded, so the
        # mixin resubmits, and launch_or_attach picks the right run for these inputs.
        if external_id.get("digest") != self._prepare()[1]:
            self.log.info("Flyte run %s was made for other inputs or another task version", external_id.get("run_name"))
            return "STALE"
        run = self.hook.find_run(
            external_id["run_name"], project=external_id.get("project"), domain=external_id.get("domain")
        )
        if run is None:
            return "NOT_FOUND"
        self._run = run
        return run.phase.value

    def is_job_active(self, status: str) -> bool:
        return self.hook.is_active_status(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.hook.is_succeeded_status(status)

    def _run_for(self, external_id: Any, context: Context) -> Run:
        run = self._run
        if run is None or run.name != external_id["run_name"]:
            run = self.hook.get_run(
                external_id["run_name"], project=external_id.get("project"), domain=external_id.get("domain")
            )
            self._run = run
            self._announce(context, run)
        return run

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        self._start_clock()
        run = self._run_for(external_id, context)
        if self._run is run:
            self._announce(context, run)  # a reconnecting try pushes them again (XComs are cleared per try)
        self._result = self._wait_sync(context, run)
        # Returned too: ResumableJobMixin (3.3.2) returns this value on its reconnect path.
        return self._result

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        if self._result is None:  # an earlier try's run had already succeeded
            run = self._run_for(external_id, context)
            self._announce(context, run)
            self._result = self._finish(context, self.hook.result_event(run))
        return self._result

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        self._start_clock()
        self._guard = LaunchGuard()
        try:
            if not self.wait_for_termination:
                self._launch(context)
                return None
            if self.deferrable:
                return self._execute_deferrable(context)
            return self.execute_resumable(context)
        finally:
            self._close_hook()

    def _supersede(self, context: Context) -> bool:
        """Whether an earlier try of this task instance handed its run to a trigger.

        That trigger's ``on_kill`` aborts the run when the task is cleared or marked, maybe
        after this try has started: this try must not attach to it. It aborts the run itself
        (if still active: the two aborts agree) and launches its own.
        """
        store: Any = context.get("task_state_store")
        if store is None:
            return False
        try:
            marker: Any = store.get(DEFERRED_RUN_KEY)
        except Exception as exc:  # the store is a convenience: without it, the old behaviour
            self.log.warning("could not read the task state store: %s", exc)
            return False
        try_number = int(context["ti"].try_number or 1)
        if not isinstance(marker, dict) or int(marker.get("try", try_number)) >= try_number:
            return False
        name = str(marker.get("run_name") or "")
        if not name:
            return False
        aborted = self.hook.abort_superseded(
            name,
            project=str(marker.get("project") or "") or None,
            domain=str(marker.get("domain") or "") or None,
            reason=f"superseded by try {try_number} of the Airflow task (the deferred try was cleared)",
        )
        if aborted:
            self.log.info("Aborted Flyte run %s of an earlier, deferred try; launching a new run", name)
        return True

    def _remember_deferral(self, context: Context, run: Run) -> None:
        store: Any = context.get("task_state_store")
        if store is None:
            return
        marker = {
            "run_name": run.name,
            "project": run.project,
            "domain": run.domain,
            "try": int(context["ti"].try_number or 1),
        }
        try:
            store.set(DEFERRED_RUN_KEY, marker)
        except Exception as exc:
            self.log.warning("could not write the task state store: %s", exc)

    def _execute_deferrable(self, context: Context) -> Any:
        superseded = self._supersede(context)
        run = self._launch(context, attach_earlier=not superseded)
        try:
            run = self.hook.get_run(run.name, project=run.project, domain=run.domain)
        except AirflowException:
            raise
        except Exception as exc:
            raise self.hook.exception_for(exc, f"could not read Flyte run {run.name}") from None
        if run.done():  # no trigger round trip for a run that has already ended (or was reused)
            self.log.info("Flyte run %s is already %s; not deferring", run.name, run.phase)
            return self._finish(context, self.hook.result_event(run))
        first_wait = self.wait_before_defer
        if self._deadline is not None:
            first_wait = min(first_wait, max(0.0, self._deadline - time.time()))
        event = self.hook.wait_briefly(run, first_wait)
        if event is not None:
            self.log.info("Flyte run %s ended within %.0f s; not deferring", run.name, first_wait)
            return self._finish(context, event)
        # A deadline that has already passed is the trigger's to enforce: it aborts and reports.
        self._remember_deferral(context, run)
        self._close_hook()
        self.defer(
            trigger=FlyteRunTrigger(
                run_name=run.name,
                flyte_conn_id=self.flyte_conn_id,
                project=run.project,
                domain=run.domain,
                deadline=self._deadline,
                cancel_on_kill=self.cancel_on_kill,
                not_before=time.time() + self.trigger_hold if self.trigger_hold else None,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired; the event carries everything (defer kwargs may be lost).

        Idempotent: it reads nothing but the event and pushes the same XComs however often it
        runs, and a later try of a task whose run succeeded reuses that run's outputs."""
        result = FlyteRunEvent.from_payload(event)
        if result.run_url:
            announce_run(context["ti"], result.run_name, result.run_url)
        return self._finish(context, result)

    def on_kill(self) -> None:
        """Abort the remote run when the task is killed (never from cleanup); ``_kill`` covers launches in flight."""
        if not self.cancel_on_kill:
            return
        guard = self._guard
        if guard is not None:
            guard.killed = True
            if guard.in_flight() and not guard.wait_for_launch(LAUNCH_WAIT_SECONDS):
                self.log.warning(
                    "Killed while launching Flyte task %s; the run will be aborted when the launch returns",
                    self.task_name,
                )
        if self._run is not None:
            self._abort_on_kill(self._run)

    def _abort_on_kill(self, run: Run) -> bool | None:
        """Whether the run was aborted; None if another thread (execute or on_kill) is aborting it."""
        if self._guard is not None and not self._guard.claim_abort(run.name):
            return None
        hook = FlyteHook(self.flyte_conn_id, project=self.project, domain=self.domain)
        try:
            aborted = hook.abort(run, reason="The Airflow task was killed")
        finally:
            hook.close()
        if aborted:
            self.log.info("Aborted Flyte run %s", run.name)
        else:
            self.log.warning("Could not abort Flyte run %s (%s); it may still be running", run.name, run.url)
        return aborted
