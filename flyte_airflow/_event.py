"""The trigger event payload, and how an outcome becomes an Airflow exception.

One typed payload carries everything ``execute_complete`` needs (``dag.test()`` in
Airflow 3.3.2 drops the kwargs given to ``defer()``), and the same payload describes
a run that was already finished when the operator looked, so both paths share one
exit. Events are built from the core's :class:`~flyte_remote_core.orchestration.Outcome`
(``classify`` of what a wait returned or raised); the core decides what is retryable,
this module only maps that onto Airflow's two exception kinds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte_airflow._compat import AirflowException, AirflowFailException
from flyte_remote_core.orchestration import OutcomeKind, classify

if TYPE_CHECKING:
    from flyte_remote_core.orchestration import Outcome, RunLike, RunResult

# status values
SUCCESS = "success"  # the run reached a success phase (or the awaited phase)
FAILED = "failed"  # FAILED, ABORTED or TIMED_OUT remotely
DEADLINE = "deadline"  # the Airflow-side deadline passed
ERROR = "error"  # the run could not be watched (not found, transport)

# What sets the deadline of an Airflow wait, as deadline messages name it.
DEADLINE_LIMIT = "the task's timeout"


class FlyteRunException(AirflowException):
    """A Flyte run failed for a reason worth retrying (SYSTEM error, transport, deadline)."""


class FlyteRunFailedException(AirflowFailException):
    """A Flyte run failed in a way a retry would not fix (USER error, aborted): no Airflow retries."""


class FlyteRunDeadlineException(FlyteRunException):
    """The operator's ``timeout`` passed; the message says whether the remote run was aborted."""


def airflow_exception(kind: OutcomeKind, message: str, *, retry_on_user_error: bool = False) -> AirflowException:
    """The Airflow exception for an outcome: retried exactly when the core's rule says so."""
    if kind is OutcomeKind.DEADLINE:
        return FlyteRunDeadlineException(message)
    if kind.is_retryable(retry_user_errors=retry_on_user_error):
        return FlyteRunException(message)
    if kind is OutcomeKind.FAILED_USER:
        message += " (USER error: not retried; set retry_on_user_error=True to retry)"
    return FlyteRunFailedException(message)


@dataclass(frozen=True)
class FlyteRunEvent:
    """What a trigger reports, and what an operator turns into a result or an exception.

    ``outcome`` is the core's :class:`~flyte_remote_core.orchestration.OutcomeKind` (its
    value); ``retryable`` is what it means without ``retry_on_user_error``.
    """

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
    outcome: str = ""

    @classmethod
    def for_run(cls, run: RunLike) -> FlyteRunEvent:
        """The run as last seen, without outputs (a still active run counts as success so far)."""
        phase = run.phase
        return cls(
            status=SUCCESS if phase.is_success or not phase.is_terminal else FAILED,
            run_name=run.name,
            run_url=run.url,
            project=run.project,
            domain=run.domain,
            phase=phase.value,
        )

    @classmethod
    def from_result(cls, result: RunResult) -> FlyteRunEvent:
        return cls(
            status=SUCCESS,
            run_name=result.run_name,
            run_url=result.url,
            project=result.project,
            domain=result.domain,
            phase=result.phase,
            outputs=dict(result.json_outputs),
            outcome=OutcomeKind.SUCCEEDED.value,
        )

    @classmethod
    def from_outcome(
        cls,
        outcome: Outcome,
        *,
        run: RunLike | None = None,
        run_name: str = "",
        run_url: str = "",
        project: str = "",
        domain: str = "",
    ) -> FlyteRunEvent:
        """The event for a classified outcome; ``run`` (or the names given) is the run it concerns."""
        kind = outcome.kind
        status = SUCCESS if outcome.ok else FAILED if kind.ran else DEADLINE if kind is OutcomeKind.DEADLINE else ERROR
        base = (
            cls.for_run(run)
            if run is not None
            else cls(status=status, run_name=run_name, run_url=run_url, project=project, domain=domain)
        )
        return base.replace(
            status=status,
            run_name=outcome.run_name or base.run_name,
            run_url=outcome.url or base.run_url,
            phase=outcome.phase or base.phase,
            error_kind=outcome.error_kind,
            error_code=outcome.error_code,
            message=outcome.message,
            retryable=outcome.retryable,
            outcome=kind.value,
            outputs={},
        )

    @classmethod
    def from_error(cls, run: RunLike, exc: BaseException, *, secrets: tuple[str, ...] = ()) -> FlyteRunEvent:
        """The event for what the core raised while waiting for (or reading) ``run``."""
        return cls.from_outcome(classify(exc, run=run, secrets=secrets, deadline_limit=DEADLINE_LIMIT), run=run)

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

    @property
    def kind(self) -> OutcomeKind:
        """The outcome's kind; for a payload written before events carried it, read from the other fields."""
        if self.outcome:
            return OutcomeKind(self.outcome)
        if self.status == SUCCESS:
            return OutcomeKind.SUCCEEDED
        if self.status == DEADLINE:
            return OutcomeKind.DEADLINE
        if self.status == FAILED and self.error_kind == "USER":
            return OutcomeKind.FAILED_USER
        if self.retryable:
            return OutcomeKind.FAILED_SYSTEM if self.status == FAILED else OutcomeKind.UNAVAILABLE
        return OutcomeKind.FAILED if self.status == FAILED else OutcomeKind.ERROR

    def describe(self) -> str:
        where = f" (see {self.run_url})" if self.run_url else ""
        if self.status == DEADLINE:
            return f"Flyte run {self.run_name}: {self.message}{where}"
        if self.status == ERROR:
            return f"Flyte run {self.run_name} could not be watched: {self.message}{where}"
        return (self.message or f"Flyte run {self.run_name} ended {self.phase or 'unsuccessfully'}") + where

    def raise_for_status(self, *, retry_on_user_error: bool = False) -> None:
        """Raise the Airflow exception for a non-success event; return for success.

        Whether Airflow may retry is the core's rule (``OutcomeKind.is_retryable``): SYSTEM
        failures, transient transport errors and a passed deadline are retried; a USER error
        only when the user asked for it (the same code with the same inputs usually fails the
        same way).
        """
        if self.ok:
            return
        raise airflow_exception(self.kind, self.describe(), retry_on_user_error=retry_on_user_error)
