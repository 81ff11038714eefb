"""The trigger event payload, and how an outcome becomes an Airflow exception.

One typed payload carries everything ``execute_complete`` needs (``dag.test()`` in
Airflow 3.3.2 drops the kwargs given to ``defer()``), and the same payload describes
a run that was already finished when the operator looked, so both paths share one
exit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from flyte_remote_core import Run, RunError

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
    """The operator's ``timeout`` passed; the remote run was aborted."""


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
        phase = run.phase
        return cls(status=SUCCESS if phase.is_success or not phase.is_terminal else FAILED, run_name=run.name,
                   run_url=run.url, project=run.project, domain=run.domain, phase=phase.value)

    def replace(self, **changes: Any) -> FlyteRunEvent:
        return dataclasses.replace(self, **changes)

    def with_outputs(self, outputs: dict[str, Any]) -> FlyteRunEvent:
        return dataclasses.replace(self, status=SUCCESS, outputs=dict(outputs))

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
        """Raise the Airflow exception for a non-success event; return for success."""
        if self.ok:
            return
        message = self.describe()
        if self.status == DEADLINE:
            raise FlyteRunDeadlineException(message)
        if self.status == ERROR:
            raise (FlyteRunException if self.retryable else FlyteRunFailedException)(message)
        if self.phase == "ABORTED":  # somebody stopped it on purpose: do not start it again
            raise FlyteRunFailedException(message)
        if self.error_kind == "USER" and not retry_on_user_error:
            raise FlyteRunFailedException(message + " (USER error: not retried; set retry_on_user_error=True to retry)")
        raise FlyteRunException(message)


def event_from_run_error(base: FlyteRunEvent, exc: RunError) -> FlyteRunEvent:
    return base.replace(status=FAILED, phase=str(exc.phase), error_kind=exc.kind, error_code=exc.code,
                        message=exc.message or str(exc), run_url=exc.url or base.run_url, outputs={})
