"""The one choke point every RPC goes through.

It owns three things, so no other module has to:

* channels: one ``grpc.aio`` channel per event loop (grpc.aio channels are bound to the
  loop that made them; Airflow's ``dag.test()`` runs each trigger under a fresh loop);
* retries: off unless the method is safe to repeat (reads, idempotent writes), and then
  only for transient codes, with jittered exponential backoff;
* error conversion: every ``grpc.RpcError`` becomes a :class:`~._errors.RemoteError`
  here and nowhere else.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from ._errors import RemoteError, translate_rpc_error

log = logging.getLogger("flyte_remote_core")

# service key -> (module, stub class). Imported lazily: importing every *_pb2_grpc module
# up front costs more than the whole import budget of the package.
_STUBS: dict[str, tuple[str, str]] = {
    "run": ("flyteidl2.workflow.run_service_pb2_grpc", "RunServiceStub"),
    "task": ("flyteidl2.task.task_service_pb2_grpc", "TaskServiceStub"),
    "dataproxy": ("flyteidl2.dataproxy.dataproxy_service_pb2_grpc", "DataProxyServiceStub"),
    "cluster": ("flyteidl2.cluster.service_pb2_grpc", "ClusterServiceStub"),
    "project": ("flyteidl2.project.project_service_pb2_grpc", "ProjectServiceStub"),
    "secret": ("flyteidl2.secret.secret_pb2_grpc", "SecretServiceStub"),
    "trigger": ("flyteidl2.trigger.trigger_service_pb2_grpc", "TriggerServiceStub"),
    "identity": ("flyteidl2.auth.identity_pb2_grpc", "IdentityServiceStub"),
    "auth": ("flyteidl2.auth.auth_service_pb2_grpc", "AuthMetadataServiceStub"),
}

# Methods that may be sent twice without changing the outcome. CreateRun is safe only with
# a caller-given name (the backend then answers "exists"), which the caller states.
_IDEMPOTENT_PREFIXES = ("Get", "List", "Select", "UserInfo", "Abort", "UploadInputs", "DeployTask")
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 3.0

    def backoff(self, attempt: int) -> float:
        # Full jitter: many waiters that lost the same connection do not reconnect in step.
        return random.uniform(0, min(self.max_backoff, self.initial_backoff * (2**attempt)))


ChannelFactory = Callable[[], Awaitable[grpc.aio.Channel]]


class _LoopChannel:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.stubs: dict[str, Any] = {}


class Rpc:
    """Channels per event loop, retries and error translation."""

    def __init__(
        self,
        channel_factory: ChannelFactory,
        *,
        timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._channel_factory = channel_factory
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._channels: dict[asyncio.AbstractEventLoop, _LoopChannel] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def _loop_channel(self) -> _LoopChannel:
        loop = asyncio.get_running_loop()
        entry = self._channels.get(loop)
        if entry is not None:
            return entry
        self._forget_closed_loops()
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            entry = self._channels.get(loop)
            if entry is None:
                entry = _LoopChannel(await self._channel_factory())
                self._channels[loop] = entry
        return entry

    def _forget_closed_loops(self) -> None:
        for loop in [lp for lp in self._channels if lp.is_closed()]:
            self._channels.pop(loop, None)
            self._locks.pop(loop, None)

    async def channel(self) -> grpc.aio.Channel:
        return (await self._loop_channel()).channel

    async def stub(self, service: str) -> Any:
        entry = await self._loop_channel()
        stub = entry.stubs.get(service)
        if stub is None:
            module, cls = _STUBS[service]
            stub = getattr(importlib.import_module(module), cls)(entry.channel)
            entry.stubs[service] = stub
        return stub

    async def call(
        self,
        service: str,
        method: str,
        request: Any,
        *,
        entity: str | None = None,
        idempotent: bool | None = None,
        timeout: float | None = ...,  # type: ignore[assignment]
    ) -> Any:
        """A unary call with the retry policy and error translation."""
        if idempotent is None:
            idempotent = method.startswith(_IDEMPOTENT_PREFIXES)
        attempts = self._retry.attempts if idempotent else 1
        deadline = self._timeout if timeout is ... else timeout
        for attempt in range(attempts):
            stub = await self.stub(service)
            try:
                return await getattr(stub, method)(request, timeout=deadline)
            except grpc.RpcError as exc:
                error = translate_rpc_error(exc, entity=entity)
                if attempt + 1 < attempts and _code(exc) in _TRANSIENT and error.retryable:
                    delay = self._retry.backoff(attempt)
                    log.debug("%s.%s failed with %s; retrying in %.2fs", service, method, error.code, delay)
                    await asyncio.sleep(delay)
                    continue
                raise error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def stream(
        self, service: str, method: str, request: Any, *, entity: str | None = None
    ) -> AsyncIterator[Any]:
        """A server stream, with errors translated. Reconnecting is the caller's policy."""
        stub = await self.stub(service)
        call = getattr(stub, method)(request)
        try:
            async for message in call:
                yield message
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, entity=entity) from None
        finally:
            cancel = getattr(call, "cancel", None)  # an interceptor may hand back a plain iterator
            if cancel is not None:
                cancel()

    async def close(self) -> None:
        """Close the channel of the running loop (others close with their loops)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover
            return
        entry = self._channels.pop(loop, None)
        self._locks.pop(loop, None)
        if entry is not None:
            await entry.channel.close()

    def drop_all(self) -> list[tuple[asyncio.AbstractEventLoop, grpc.aio.Channel]]:
        entries = [(loop, e.channel) for loop, e in self._channels.items()]
        self._channels.clear()
        self._locks.clear()
        return entries


async def collect_pages(
    page: Callable[[str, int], Awaitable[tuple[list[Any], str]]], limit: int, *, page_size: int = 200
) -> list[Any]:
    """Follow list tokens until ``limit`` items: ``page(token, size)`` returns ``(items, next token)``."""
    items: list[Any] = []
    token = ""
    while len(items) < limit:
        batch, token = await page(token, min(page_size, limit - len(items)))
        items.extend(batch)
        if not token or not batch:
            break
    return items[:limit]


def _code(exc: grpc.RpcError) -> grpc.StatusCode:
    try:
        return exc.code()  # type: ignore[attr-defined,no-any-return]
    except Exception:
        return grpc.StatusCode.UNKNOWN


def is_transient(error: BaseException) -> bool:
    """True for errors after which a stream should be reopened."""
    return isinstance(error, RemoteError) and error.retryable
