"""gRPC errors are translated in one place; messages carry code, entity and hint, never secrets."""

from __future__ import annotations

import grpc
import pytest

from flyte_remote_core import (
    AlreadyExistsError,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    RemoteError,
    UnavailableError,
    UnimplementedError,
)
from flyte_remote_core._errors import redact, translate_rpc_error


class FakeCall(grpc.RpcError):
    """A stand-in for an AioRpcError: the seam where grpc hands us an error object."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    "code, cls, retryable",
    [
        (grpc.StatusCode.NOT_FOUND, NotFoundError, False),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError, False),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError, False),
        (grpc.StatusCode.UNAUTHENTICATED, AuthenticationError, False),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, UnavailableError, True),
        (grpc.StatusCode.UNIMPLEMENTED, UnimplementedError, False),
    ],
)
def test_codes_map_to_the_hierarchy(code: grpc.StatusCode, cls: type, retryable: bool) -> None:
    err = translate_rpc_error(FakeCall(code, "boom"), entity="run r1")
    assert type(err) is cls
    assert isinstance(err, RemoteError)
    assert err.code is code
    assert err.entity == "run r1"
    assert err.retryable is retryable
    assert code.name in str(err) and "run r1" in str(err) and "boom" in str(err)


def test_hint_says_what_to_do() -> None:
    err = translate_rpc_error(FakeCall(grpc.StatusCode.UNAUTHENTICATED, "bad token"))
    assert "FLYTE_API_KEY" in str(err)


def test_tokens_in_server_details_are_redacted() -> None:
    err = translate_rpc_error(
        FakeCall(grpc.StatusCode.UNAUTHENTICATED, "invalid Bearer abc.def.ghi for client_secret=s3cr3t")
    )
    assert "abc.def.ghi" not in str(err)
    assert "s3cr3t" not in str(err)


def test_redact_known_values() -> None:
    assert redact("key is hunter22 here", "hunter22") == "key is *** here"


def test_only_system_failures_are_retryable() -> None:
    from flyte_remote_core import RunAbortedError, RunFailedError, RunTimedOutError

    assert RunFailedError("r", phase="FAILED", kind="SYSTEM").retryable is True
    assert RunFailedError("r", phase="FAILED", kind="USER").retryable is False
    assert RunFailedError("r", phase="FAILED", kind=None).retryable is False
    assert RunAbortedError("r", phase="ABORTED").retryable is False
    assert RunTimedOutError("r", phase="TIMED_OUT", kind="SYSTEM").retryable is False
