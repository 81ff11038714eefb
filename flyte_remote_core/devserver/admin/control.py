"""Test control shared by the admin API: per-method call counters, injected faults,
open-stream bookkeeping. Applied to every Flyte service through a connectrpc interceptor."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

StatusLike = Any  # a connectrpc Code, a grpc.StatusCode, a number or a name ("UNAVAILABLE")

# gRPC status numbers -> connectrpc codes.
GRPC_CODES: dict[int, Code] = {
    1: Code.CANCELED,
    2: Code.UNKNOWN,
    3: Code.INVALID_ARGUMENT,
    4: Code.DEADLINE_EXCEEDED,
    5: Code.NOT_FOUND,
    6: Code.ALREADY_EXISTS,
    7: Code.PERMISSION_DENIED,
    8: Code.RESOURCE_EXHAUSTED,
    9: Code.FAILED_PRECONDITION,
    10: Code.ABORTED,
    11: Code.OUT_OF_RANGE,
    12: Code.UNIMPLEMENTED,
    13: Code.INTERNAL,
    14: Code.UNAVAILABLE,
    15: Code.DATA_LOSS,
    16: Code.UNAUTHENTICATED,
}
CODE_NUMBERS = {v: k for k, v in GRPC_CODES.items()}


def to_code(code: StatusLike) -> Code:
    """Accept a connectrpc Code, a grpc.StatusCode, a number or a name ("UNAVAILABLE")."""
    if isinstance(code, Code):
        return code
    value = getattr(code, "value", None)
    if isinstance(value, tuple):  # grpc.StatusCode
        code = value[0]
    if isinstance(code, int):
        if code not in GRPC_CODES:
            raise ValueError(f"not an error status code: {code}")
        return GRPC_CODES[code]
    if isinstance(code, str):
        name = code.strip().upper().replace("CANCELLED", "CANCELED")
        if name.isdigit():
            return to_code(int(name))
        try:
            return Code[name]
        except KeyError:
            raise ValueError(f"unknown status code {code!r}") from None
    raise ValueError(f"unknown status code {code!r}")


def method_matches(pattern: str, full: str) -> bool:
    """``full`` is "package.Service/Method"; the pattern may be that, "/…", "Service/Method" or "Method"."""
    pattern = pattern.strip("/")
    return full == pattern or full.endswith(("/" + pattern, "." + pattern))


@dataclass
class Fault:
    method: str
    code: Code
    remaining: int
    message: str


class Control:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.open_streams = 0

    def fail_next(self, method: str, code: StatusLike, count: int = 1, message: str = "") -> None:
        c = to_code(code)
        fault = Fault(method, c, max(1, int(count or 1)), message or f"injected {c.name} by the devserver admin API")
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.counters.clear()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def count(self, method: str) -> int:
        with self._lock:
            return sum(n for full, n in self.counters.items() if method_matches(method, full))

    def on_call(self, full: str) -> None:
        with self._lock:
            self.counters[full] += 1
            for f in self.faults:
                if method_matches(f.method, full):
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self.faults.remove(f)
                    raise ConnectError(f.code, f.message)


class ControlInterceptor:
    """Counts every call and raises injected faults before the handler runs."""

    def __init__(self, control: Control) -> None:
        self.control = control

    @staticmethod
    def _name(ctx: RequestContext) -> str:
        m = ctx.method()
        return f"{m.service_name}/{m.name}"

    async def intercept_unary(
        self, call_next: Callable[[Any, RequestContext], Awaitable[Any]], request: Any, ctx: RequestContext
    ) -> Any:
        self.control.on_call(self._name(ctx))
        return await call_next(request, ctx)

    async def intercept_server_stream(
        self, call_next: Callable[[Any, RequestContext], AsyncIterator[Any]], request: Any, ctx: RequestContext
    ) -> AsyncIterator[Any]:
        self.control.on_call(self._name(ctx))
        self.control.open_streams += 1
        try:
            async for msg in call_next(request, ctx):
                yield msg
        finally:
            self.control.open_streams -= 1
