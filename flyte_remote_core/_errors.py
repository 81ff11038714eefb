"""Every error this package raises, and the one place gRPC errors are translated.

The hierarchy::

    FlyteError
    ├── FlyteInputError (ValueError)       bad input found locally; nothing was sent
    │   ├── InvalidInputError               a task input is missing, unknown or of the wrong type
    │   │   └── InvalidInputsError          several inputs are wrong at once; ``.errors`` lists each
    │   ├── InvalidRunNameError             a run name breaks the backend's DNS-1035 rule
    │   └── ConfigurationError              endpoint, credentials or options are malformed
    ├── RemoteError                         the backend answered with a gRPC error
    │   ├── NotFoundError                   NOT_FOUND
    │   ├── AlreadyExistsError              ALREADY_EXISTS
    │   │   └── RunAlreadyExistsError       a named run exists already; ``.run`` is it, to attach to
    │   ├── InvalidArgumentError            INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
    │   ├── AuthenticationError             UNAUTHENTICATED
    │   ├── PermissionDeniedError           PERMISSION_DENIED
    │   ├── UnavailableError                UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN
    │   ├── TLSError                        UNAVAILABLE because the server's certificate did not verify
    │   ├── RemoteDeadlineExceededError     DEADLINE_EXCEEDED
    │   └── UnimplementedError              UNIMPLEMENTED
    ├── RunError                            a run ended in a phase that has no outputs
    │   ├── RunFailedError                  FAILED (error kind USER or SYSTEM)
    │   ├── RunAbortedError                 ABORTED
    │   └── RunTimedOutError                TIMED_OUT
    ├── WaitTimeoutError (TimeoutError)     a local wait passed its deadline; the run goes on
    └── StorageError                        reading or writing an object in storage failed

Remote errors carry the status code, the entity they concern and, where it is
knowable, a hint saying what to do next. Messages never contain credentials:
:func:`translate_rpc_error` takes only the server's details text, which is
passed through :func:`redact`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import grpc

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ConfigurationError",
    "FlyteError",
    "FlyteInputError",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidInputsError",
    "InvalidRunNameError",
    "InvalidRunOptionError",
    "NotFoundError",
    "PermissionDeniedError",
    "RemoteDeadlineExceededError",
    "RemoteError",
    "RunAbortedError",
    "RunAlreadyExistsError",
    "RunError",
    "RunFailedError",
    "RunTimedOutError",
    "StorageError",
    "TLSError",
    "UnavailableError",
    "UnimplementedError",
    "WaitTimeoutError",
    "redact",
    "translate_rpc_error",
]


class FlyteError(Exception):
    """Base of every error raised by flyte_remote_core."""


class FlyteInputError(FlyteError, ValueError):
    """Bad input found before anything was sent."""


class InvalidInputError(FlyteInputError):
    """A task input is missing, unknown, or not of the declared type."""

    def __init__(self, input_name: str, *, expected: str, given: str, task: str | None = None) -> None:
        self.input_name = input_name
        self.expected = expected
        self.given = given
        self.task = task
        where = f" of task {task!r}" if task else ""
        super().__init__(f"input {input_name!r}{where}: expected {expected}, got {given}")


class InvalidInputsError(InvalidInputError):
    """Several inputs are wrong at once; ``errors`` holds one :class:`InvalidInputError` each.

    Its attributes (``input_name``, ``expected``, ``given``, ``task``) are those of the first
    error, so code written for a single :class:`InvalidInputError` keeps working.
    """

    def __init__(self, errors: Sequence[InvalidInputError]) -> None:
        first = errors[0]
        super().__init__(first.input_name, expected=first.expected, given=first.given, task=first.task)
        self.errors = list(errors)
        where = f" of task {first.task!r}" if first.task else ""
        details = "; ".join(f"{e.input_name!r}: expected {e.expected}, got {e.given}" for e in self.errors)
        self.args = (f"{len(self.errors)} inputs{where} are invalid: {details}",)


class InvalidRunNameError(FlyteInputError):
    """A run name that the backend would refuse."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(
            f"run name {name!r} is invalid: {reason}; a run name must be a DNS-1035 label "
            "(lower-case letters, digits and '-', starting with a letter, not ending with '-') "
            "of at most 30 characters"
        )


class InvalidRunOptionError(FlyteInputError):
    """A run option (labels, envs, queue, ...) of the wrong type or shape, found before anything was sent."""

    def __init__(self, option: str, *, expected: str, given: str) -> None:
        self.option = option
        self.expected = expected
        self.given = given
        super().__init__(f"run option {option!r}: expected {expected}, got {given}")


class ConfigurationError(FlyteInputError):
    """The endpoint, credentials or client options are malformed or missing."""


class RemoteError(FlyteError):
    """The backend answered with an error status."""

    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        entity: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.entity = entity
        self.hint = hint if hint is not None else self.default_hint
        self.message = message
        parts = [f"{code.name}: " if code is not None else "", message]
        if entity:
            parts.append(f" (while working on {entity})")
        if self.hint:
            parts.append(f". {self.hint}")
        super().__init__("".join(parts))

    @property
    def retryable(self) -> bool:
        return False


class NotFoundError(RemoteError):
    default_hint = "Check the name, project and domain"


class AlreadyExistsError(RemoteError):
    default_hint = "Choose another name or attach to the existing entity"


class RunAlreadyExistsError(AlreadyExistsError):
    """A run with the requested name exists already. ``run`` is that run, ready to attach to.

    Raised for both backend behaviours: an ALREADY_EXISTS answer (hosted backends) and a
    run found before creating it (the open-source backend returns the old run silently).
    """

    def __init__(self, run: Any, *, entity: str | None = None) -> None:
        self.run = run
        super().__init__(
            f"a run named {run.name!r} already exists (phase {run.phase})",
            code=grpc.StatusCode.ALREADY_EXISTS,
            entity=entity,
            hint="Attach to it through the error's .run, or choose another name",
        )


class InvalidArgumentError(RemoteError):
    pass


class AuthenticationError(RemoteError):
    default_hint = "Check the API key or client credentials (FLYTE_API_KEY, FLYTE_CLIENT_ID/FLYTE_CLIENT_SECRET)"


class PermissionDeniedError(RemoteError):
    default_hint = "The credentials are valid but lack permission for this project or domain"


class UnavailableError(RemoteError):
    default_hint = "The backend could not be reached or is overloaded; the call can be retried"

    @property
    def retryable(self) -> bool:
        return True


class TLSError(RemoteError):
    """The TLS handshake failed: the certificate did not verify. Retrying will not help."""

    default_hint = (
        "The server's certificate did not verify: set ca_cert_file_path (FLYTE_CA_CERT) to the CA that "
        "signed it, or use insecure=True for a plain-text endpoint"
    )


class RemoteDeadlineExceededError(RemoteError):
    @property
    def retryable(self) -> bool:
        return True


class UnimplementedError(RemoteError):
    default_hint = "This backend does not offer the call; it may be older or a different flavour of Flyte 2"


class RunError(FlyteError):
    """A run ended without outputs."""

    def __init__(
        self,
        run_name: str,
        *,
        phase: str,
        message: str = "",
        kind: str | None = None,
        code: str | None = None,
        url: str | None = None,
    ) -> None:
        self.run_name = run_name
        self.phase = phase
        self.message = message
        self.kind = kind
        self.code = code
        self.url = url
        text = f"run {run_name!r} ended {phase}"
        if kind:
            text += f" with a {kind} error"
        if code:
            text += f" [{code}]"
        if message:
            text += f": {message}"
        if url:
            text += f" (see {url})"
        super().__init__(text)

    @property
    def retryable(self) -> bool:
        """Whether an orchestrator should retry the step: only after a SYSTEM failure.

        A USER error fails the same way again; an ABORTED run was stopped on purpose; a
        TIMED_OUT run hit the task's own limit (Flyte already applied the task's retries).
        """
        return isinstance(self, RunFailedError) and self.kind == "SYSTEM"


class RunFailedError(RunError):
    pass


class RunAbortedError(RunError):
    pass


class RunTimedOutError(RunError):
    pass


class WaitTimeoutError(FlyteError, TimeoutError):
    """A local wait passed its deadline. The remote run is not touched."""

    def __init__(self, run_name: str, timeout: float, phase: str | None = None) -> None:
        self.run_name = run_name
        self.timeout = timeout
        self.phase = phase
        # Set by run_to_completion / wait_for_result, which abort the run at their deadline:
        # True if the abort was accepted, False if it failed, None if none was tried.
        self.aborted: bool | None = None
        super().__init__(
            f"run {run_name!r} did not finish within {timeout:g} s" + (f" (last phase {phase})" if phase else "")
        )


class StorageError(FlyteError):
    """Reading or writing an object in storage failed."""


_BY_CODE: dict[grpc.StatusCode, type[RemoteError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: UnavailableError,
    grpc.StatusCode.ABORTED: UnavailableError,
    grpc.StatusCode.INTERNAL: UnavailableError,
    grpc.StatusCode.UNKNOWN: UnavailableError,
    grpc.StatusCode.CANCELLED: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: RemoteDeadlineExceededError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
}

# Things that look like secrets in free text coming back from servers or libraries.
_SECRET_PATTERNS = [
    # "Bearer <token>", but not the words in "missing bearer token".
    re.compile(r"(?i)(bearer\s+)(?!(?:token|tokens|auth|header|scheme)\b)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)((?:api[_-]?key|client[_-]?secret|password|token|authorization)\s*[=:]\s*)[^\s,;&]+"),
    # Signed URLs: the query string carries the signature (S3, GCS, Azure, ours).
    re.compile(r"(?i)(https?://[^\s?\"']+\?)[^\s\"']+"),
    re.compile(
        r"(?i)((?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential"
        r"|signature|sig)=)[^&\s\"']+"
    ),
]
_TLS_FAILURE = re.compile(r"(?i)certificate[_ ]verify[_ ]failed|ssl handshake failed|handshake failed.*ssl")


def redact(text: str, *secrets: str | None) -> str:
    """Remove known secret values and secret-looking tokens from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


def translate_rpc_error(error: grpc.RpcError | Any, *, entity: str | None = None) -> RemoteError:
    """Turn a ``grpc.aio.AioRpcError`` (or ``grpc.RpcError``) into a :class:`RemoteError`."""
    try:
        code = error.code()
    except Exception:  # an RpcError that is not a Call carries no code
        code = grpc.StatusCode.UNKNOWN
    try:
        details = error.details() or ""
    except Exception:
        details = str(error)
    cls = _BY_CODE.get(code, RemoteError)
    if code is grpc.StatusCode.UNAVAILABLE and _TLS_FAILURE.search(details):
        cls = TLSError
    return cls(redact(details or code.name.lower()), code=code, entity=entity)
