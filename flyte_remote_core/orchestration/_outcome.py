"""How an orchestrator step ended, and whether the orchestrator may try it again.

Every integration asks the same question after a launch or a wait: did it work, and if
not, would a retry help? :func:`classify` answers it once, for every result and error the
core produces, as an :class:`Outcome`:

==============  ===============================================  =========
kind            what happened                                    retried
==============  ===============================================  =========
SUCCEEDED       the run succeeded (a :class:`RunResult`)          --
FAILED_SYSTEM   the run FAILED with a SYSTEM error                yes
FAILED_USER     the run FAILED with a USER error                  opt-in
FAILED          the run FAILED without an error kind              no
ABORTED         the run was aborted                               no
TIMED_OUT       the run hit the task's own timeout                no
DEADLINE        the orchestrator's wait deadline passed           yes
INVALID         bad input, run name or configuration (not sent)   no
NOT_FOUND       the task, project or run does not exist           no
OUTPUT_TYPE     the outputs do not fit the requested types        no
UNAVAILABLE     a transient transport error (UNAVAILABLE, ...)    yes
REFUSED         the backend refused (auth, permission, ...)       no
ERROR           anything else raised on the client side           no
==============  ===============================================  =========

The rule: SYSTEM failures, transient transport errors and a passed deadline are retried
(a retry attaches to, reuses, or relaunches the run by its deterministic name, so it never
duplicates work); everything that would fail the same way again is not. USER errors are
retried only when the user opts in (``retry_user_errors``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import (
    FlyteError,
    FlyteInputError,
    NotFoundError,
    RemoteError,
    RunAbortedError,
    RunError,
    RunFailedError,
    RunTimedOutError,
    WaitTimeoutError,
    redact,
)
from ._protocols import RunLike

__all__ = ["Outcome", "OutcomeKind", "OutputTypeError", "RunResult", "classify", "deadline_message"]


@dataclass(frozen=True)
class RunResult:
    """What a finished, successful run gave back."""

    run_name: str
    url: str
    phase: str
    outputs: dict[str, Any]
    json_outputs: dict[str, Any]
    duration_s: float
    attempts: int
    launch: str  # "launched" | "attached" | "reused"
    project: str = ""
    domain: str = ""
    task_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> Any:
        """The single output's value (None for a task without outputs)."""
        if not self.outputs:
            return None
        if len(self.outputs) > 1:
            raise ValueError(
                f"Flyte task {self.task_name!r} has {len(self.outputs)} outputs ({list(self.outputs)}); use .outputs"
            )
        return next(iter(self.outputs.values()))


class OutputTypeError(FlyteError, TypeError):
    """A run SUCCEEDED, but its outputs do not fit the Python types they were asked for.

    A retry would reuse the same run and fail the same way.
    """

    def __init__(self, run_name: str, cause: BaseException) -> None:
        self.run_name = run_name
        super().__init__(f"the outputs of run {run_name!r} do not fit the requested output types: {cause}")


class OutcomeKind(str, enum.Enum):
    """How a step ended; see the module docstring for the table."""

    SUCCEEDED = "SUCCEEDED"
    FAILED_SYSTEM = "FAILED_SYSTEM"
    FAILED_USER = "FAILED_USER"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    TIMED_OUT = "TIMED_OUT"
    DEADLINE = "DEADLINE"
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    OUTPUT_TYPE = "OUTPUT_TYPE"
    UNAVAILABLE = "UNAVAILABLE"
    REFUSED = "REFUSED"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value

    def is_retryable(self, *, retry_user_errors: bool = False) -> bool:
        """Whether an orchestrator should try the step again after this outcome."""
        if self is OutcomeKind.FAILED_USER:
            return retry_user_errors
        return self in _RETRYABLE

    @property
    def ran(self) -> bool:
        """True if a run reached a terminal phase (as opposed to a local or transport problem)."""
        return self in _RUN_ENDED


_RETRYABLE = frozenset({OutcomeKind.FAILED_SYSTEM, OutcomeKind.DEADLINE, OutcomeKind.UNAVAILABLE})
_RUN_ENDED = frozenset(
    {
        OutcomeKind.SUCCEEDED,
        OutcomeKind.FAILED_SYSTEM,
        OutcomeKind.FAILED_USER,
        OutcomeKind.FAILED,
        OutcomeKind.ABORTED,
        OutcomeKind.TIMED_OUT,
    }
)
# What an error is, in one word, for kinds whose run reported no error kind of its own.
_CATEGORY = {
    OutcomeKind.DEADLINE: "TIMEOUT",
    OutcomeKind.INVALID: "INPUT",
    OutcomeKind.NOT_FOUND: "NOT_FOUND",
    OutcomeKind.OUTPUT_TYPE: "OUTPUT_TYPE",
    OutcomeKind.UNAVAILABLE: "TRANSPORT",
    OutcomeKind.REFUSED: "TRANSPORT",
}


@dataclass(frozen=True)
class Outcome:
    """How a step ended (:func:`classify` builds it). Every text in it is free of the given secrets.

    ``message`` is one sentence saying what happened; ``detail`` the error's own text (a
    run's error message, an abort reason, a remote error). ``error_kind`` is the run's
    error kind (``USER``, ``SYSTEM``) or, for other failures, a category (``TIMEOUT``,
    ``INPUT``, ``NOT_FOUND``, ``OUTPUT_TYPE``, ``TRANSPORT``). ``aborted`` (DEADLINE only):
    True/False if the run was (not) aborted at the deadline, None if no abort was meant.
    """

    kind: OutcomeKind
    message: str
    retryable: bool
    run_name: str | None = None
    url: str | None = None
    phase: str | None = None
    error_kind: str | None = None
    error_code: str | None = None
    detail: str = ""
    aborted: bool | None = None

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.SUCCEEDED


def deadline_message(
    run_name: str, *, aborted: bool | None, last_phase: str | None = None, limit: str = "the wait's deadline"
) -> str:
    """The one wording for a passed deadline; never claims an abort that did not happen.

    ``limit`` names the setting that set the deadline (``"the task's timeout"``).
    """
    if aborted is None:
        fate = "the run goes on (it was not aborted)"
    elif aborted:
        fate = "the run was aborted"
    else:
        fate = "the run could NOT be aborted and may still be running: abort it in the Flyte console"
    return f"the deadline ({limit}) passed before run {run_name} finished (last phase {last_phase or '?'}); {fate}"


def classify(
    subject: BaseException | RunResult,
    *,
    run: RunLike | None = None,
    secrets: Sequence[str | None] = (),
    retry_user_errors: bool = False,
    deadline_limit: str = "the wait's deadline",
) -> Outcome:
    """The :class:`Outcome` of a step that returned ``subject`` (a result) or raised it.

    ``run`` is the run the step was working on, when known (it names the run and URL for
    errors that carry neither). ``secrets`` are scrubbed from every text. ``deadline_limit``
    names the setting behind a passed deadline, for the message.
    """

    def clean(text: str | None) -> str:
        return redact(text or "", *secrets)

    name = getattr(run, "name", None)
    url = getattr(run, "url", None)
    phase = run.phase.value if run is not None else None
    if isinstance(subject, RunResult):
        return Outcome(
            OutcomeKind.SUCCEEDED,
            f"Flyte run {subject.run_name} {subject.phase}",
            False,
            run_name=subject.run_name,
            url=subject.url,
            phase=subject.phase,
        )
    exc = subject
    if isinstance(exc, RunError):
        kind = _run_error_kind(exc)
        text = f"Flyte run {exc.run_name} ended {exc.phase}"
        if exc.kind:
            text += f" with a {exc.kind} error"
        if exc.code:
            text += f" [{exc.code}]"
        if exc.message:
            text += f": {exc.message}"
        return Outcome(
            kind,
            clean(text),
            kind.is_retryable(retry_user_errors=retry_user_errors),
            run_name=exc.run_name,
            url=exc.url or url,
            phase=str(exc.phase),
            error_kind=exc.kind,
            error_code=exc.code,
            detail=clean(exc.message),
        )
    if isinstance(exc, WaitTimeoutError):
        kind = OutcomeKind.DEADLINE
        last = exc.phase or phase
        text = deadline_message(exc.run_name, aborted=exc.aborted, last_phase=last, limit=deadline_limit)
        return Outcome(
            kind,
            clean(text),
            kind.is_retryable(),
            run_name=exc.run_name,
            url=url,
            phase=last,
            error_kind=_CATEGORY[kind],
            detail=clean(str(exc)),
            aborted=exc.aborted,
        )
    kind = _error_kind(exc)
    detail = clean(str(exc)) if kind is not OutcomeKind.ERROR else clean(f"{type(exc).__name__}: {exc}")
    code = getattr(getattr(exc, "code", None), "name", None) if isinstance(exc, RemoteError) else None
    return Outcome(
        kind,
        detail,
        kind.is_retryable(retry_user_errors=retry_user_errors),
        run_name=name,
        url=url,
        phase=phase,
        error_kind=_CATEGORY.get(kind),
        error_code=code,
        detail=detail,
    )


def _run_error_kind(exc: RunError) -> OutcomeKind:
    if isinstance(exc, RunAbortedError):
        return OutcomeKind.ABORTED
    if isinstance(exc, RunTimedOutError):
        return OutcomeKind.TIMED_OUT
    if isinstance(exc, RunFailedError):
        return {"SYSTEM": OutcomeKind.FAILED_SYSTEM, "USER": OutcomeKind.FAILED_USER}.get(
            exc.kind or "", OutcomeKind.FAILED
        )
    return OutcomeKind.ERROR  # a RunError for a run that has not ended (outputs asked for too early)


def _error_kind(exc: BaseException) -> OutcomeKind:
    if isinstance(exc, OutputTypeError):
        return OutcomeKind.OUTPUT_TYPE
    if isinstance(exc, FlyteInputError):
        return OutcomeKind.INVALID
    if isinstance(exc, NotFoundError):
        return OutcomeKind.NOT_FOUND
    if isinstance(exc, RemoteError):
        return OutcomeKind.UNAVAILABLE if exc.retryable else OutcomeKind.REFUSED
    return OutcomeKind.ERROR
