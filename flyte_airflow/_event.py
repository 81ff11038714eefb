"""The trigger event payload, and how an outcome becomes an Airflow exception.

One typed payload carries everything ``execute_complete`` needs (``dag.test()`` in
Airflow 3.3.2 drops the kwargs given to ``defer()``), and the same payload describes
a run that was already finished when the operator looked, so both paths share one
exit. Events are built from what the core returns (a ``RunResult``) or raises (a
``RunError``, ``RemoteError`` or ``WaitTimeoutError``); the core decides what is
retryable, this module only maps that onto Airflow's two exception kinds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte_airflow._compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from flyte_remote_core import Run, RunResult

# status values
SUCCESS = "success"  # the run reached a success phase (or the awaited phase)
FAILED = "failed"  # FAILED, ABORTED or TIMED_OUT remotely
DEADLINE = "deadline"  # the Airflow-side deadline passed
ERROR = "error"  # the run could not be watched (not found, transport)


class FlyteRunException(AirflowException):
    """A Flyte run failed for a reason worth retrying (SYSTEM error, transport, deadline)."""


class FlyteRunFailedException(AirflowFailException):
    """A Flyte run failed in a way a retry would not fix (USER error, aborted): no Airflow retries."""


class FlyteRunDeadlineException(FlyteRunException):
    """The operator's ``timeout`` passed; the message says whether the remote run was aborted."""


@dataclass(frozen=True)
class FlyteRunEvent:
    """What a trigger reports, and what an operator turns into a result or an exception."""

    status: str
    run_name: str
    run_url: str = ""
    project: str = ""
    domain: str = ""
    phase: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    error_kind: str | None = None
    error_code: str | None = None
    message: str = ""
    retryable: bool = False

    @classmethod
    def for_run(cls, run: Run) -> FlyteRunEvent:
        """The run as last seen, without outputs (a still active run counts as success so far)."""
        phase = run.phase
        return cls(status=SUCCESS if phase.is_success or not phase.is_terminal else FAILED, run_name=run.name,
                   run_url=run.url, project=run.project, domain=run.domain, phase=phase.value)

    @classmethod
    def from_result(cls, result: RunResult) -> FlyteRunEvent:
        return cls(status=SUCCESS, run_name=result.run_name, run_url=result.url, project=result.project,
                   domain=result.domain, phase=result.phase, outputs=dict(result.json_outputs))

    @classmethod
    def from_error(cls, run: Run, exc: BaseException) -> FlyteRunEvent:
        """The event for what the core raised while waiting for (or reading) ``run``."""
        from flyte_remote_core import RemoteError, RunError

        base = cls.for_run(run)
        if isinstance(exc, RunError):
            return base.replace(status=FAILED, phase=str(exc.phase), error_kind=exc.kind, error_code=exc.code,
                                message=exc.message or str(exc), run_url=exc.url or base.run_url, outputs={},
                                retryable=exc.retryable)
        # A transport error says for itself whether trying again can help; anything else cannot.
        retryable = exc.retryable if isinstance(exc, RemoteError) else False
        return base.replace(status=ERROR, message=str(exc), retryable=retryable, outputs={})

    @classmethod
    def deadline(cls, run: Run, *, aborted: bool | None, last_phase: str | None = None) -> FlyteRunEvent:
        """The deadline passed. ``aborted``: True/False if an abort was tried, None if none was meant."""
        if aborted is None:
            fate = "the run goes on (it was not aborted)"
        elif aborted:
            fate = "the run was aborted"
        else:
            fate = "the run could NOT be aborted and may still be running: abort it in the Flyte console"
        return cls.for_run(run).replace(status=DEADLINE, retryable=True, message=(
            f"the deadline (the task's timeout) passed before run {run.name} finished "
            f"(last phase {last_phase or run.phase.value}); {fate}"))

    def replace(self, **changes: Any) -> FlyteRunEvent:
        return dataclasses.replace(self, **changes)

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: Any) -> FlyteRunEvent:
        if isinstance(payload, FlyteRunEvent):
            return payload
        if not isinstance(payload, dict) or "status" not in payload or "run_name" not in payload:
            raise AirflowException(f"unexpected Flyte trigger event: {payload!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in names})

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS

    def describe(self) -> str:
        where = f" (see {self.run_url})" if self.run_url else ""
        if self.status == DEADLINE:
            return f"Flyte run {self.run_name}: {self.message}{where}"
        if self.status == ERROR:
            return f"Flyte run {self.run_name} could not be watched: {self.message}{where}"
        text = f"Flyte run {self.run_name} ended {self.phase or 'unsuccessfully'}"
        if self.error_kind:
            text += f" with a {self.error_kind} error"
        if self.error_code:
            text += f" [{self.error_code}]"
        if self.message:
            text += f": {self.message}"
        return text + where

    def raise_for_status(self, *, retry_on_user_error: bool = False) -> None:
        """Raise the Airflow exception for a non-success event; return for success.

        ``retryable`` comes from the core (``RunError.retryable``: only a SYSTEM failure;
        ``RemoteError.retryable`` for transport errors). A USER error is retried only when
        the user asked for it: the same code with the same inputs usually fails the same way.
        """
        if self.ok:
            return
        message = self.describe()
        if self.status == DEADLINE:
            raise FlyteRunDeadlineException(message)
        if self.retryable:
            raise FlyteRunException(message)
        if self.status == FAILED and self.error_kind == "USER":
            if retry_on_user_error:
                raise FlyteRunException(message)
            raise FlyteRunFailedException(message + " (USER error: not retried; set retry_on_user_error=True to retry)")
        raise FlyteRunFailedException(message)
