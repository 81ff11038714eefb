"""The one choke point every RPC goes through.

It owns three things, so no other module has to:

* channels: one ``grpc.aio`` channel per configuration and event loop, shared by every Rpc
  of the process with that configuration and closed by its last holder (grpc.aio channels
  are bound to the loop that made them; Airflow's ``dag.test()`` runs each trigger under a
  fresh loop);
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
from types import EllipsisType
from typing import Any

import grpc
import tenacity

from .._errors import RemoteError, translate_rpc_error

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
        """The delay before reconnect ``attempt`` of a stream (full jitter, like the unary retries)."""
        return random.uniform(0, min(self.max_backoff, self.initial_backoff * (2**attempt)))


# Streams (watches, log tails) reconnect and re-read without end, backing off with jitter: a
# wait outlives any outage.
RECONNECT = RetryPolicy(attempts=1_000_000, initial_backoff=0.05, max_backoff=5.0)


ChannelFactory = Callable[[], Awaitable[grpc.aio.Channel]]


class _SharedChannel:
    """One channel for one (configuration, event loop), with the stubs made on it and its holders."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.stubs: dict[str, Any] = {}
        self.holders = 0


# Process-wide: every Rpc with the same configuration key shares one channel per event loop
# (clients of one endpoint, the shared watcher, an Airflow triggerer's many triggers). A channel
# closes when its last holder releases it, so closing one client never cuts another's calls.
_POOL: dict[tuple[str, asyncio.AbstractEventLoop], _SharedChannel] = {}
_POOL_LOCKS: dict[tuple[str, asyncio.AbstractEventLoop], asyncio.Lock] = {}


def _forget_closed_loops() -> None:
    for key in [k for k in _POOL if k[1].is_closed()]:
        _POOL.pop(key, None)
    for key in [k for k in _POOL_LOCKS if k[1].is_closed()]:
        _POOL_LOCKS.pop(key, None)


def open_channels(key: str) -> int:
    """How many channels with this configuration key are open in the process (for tests and benchmarks)."""
    return sum(1 for (k, loop) in _POOL if k == key and not loop.is_closed())


class Rpc:
    """The choke point: a held share of the pooled channel per event loop, retries and error translation.

    ``key`` identifies the channel configuration (credentials included; never logged). Each
    Rpc holds the pooled channel of a loop from its first call there until :meth:`close`
    (on that loop) or :meth:`release_all`.
    """

    def __init__(
        self,
        channel_factory: ChannelFactory,
        *,
        key: str | None = None,
        timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._channel_factory = channel_factory
        self._key = key if key is not None else f"rpc-{id(self)}"
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._held: dict[asyncio.AbstractEventLoop, _SharedChannel] = {}

    @property
    def key(self) -> str:
        return self._key

    @property
    def channel_factory(self) -> ChannelFactory:
        return self._channel_factory

    async def _loop_channel(self) -> _SharedChannel:
        loop = asyncio.get_running_loop()
        entry = self._held.get(loop)
        if entry is not None:
            return entry
        for gone in [lp for lp in self._held if lp.is_closed()]:
            del self._held[gone]
        _forget_closed_loops()
        pool_key = (self._key, loop)
        async with _POOL_LOCKS.setdefault(pool_key, asyncio.Lock()):
            entry = self._held.get(loop)
            if entry is not None:
                return entry
            entry = _POOL.get(pool_key)
            if entry is None:
                entry = _POOL[pool_key] = _SharedChannel(await self._channel_factory())
            entry.holders += 1
            self._held[loop] = entry
        return entry

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
        timeout: float | EllipsisType | None = ...,
    ) -> Any:
        """A unary call with the retry policy and error translation.

        The first attempt is made directly (no retry machinery on the success path); a
        transient failure of a call safe to repeat hands the remaining attempts to tenacity.
        """
        if idempotent is None:
            idempotent = method.startswith(_IDEMPOTENT_PREFIXES)
        deadline = self._timeout if isinstance(timeout, EllipsisType) else timeout
        try:
            return await self._once(service, method, request, entity, deadline)
        except RemoteError as error:
            if not (idempotent and self._retry.attempts > 1 and _should_retry(error)):
                raise
            log.debug("%s.%s failed with %s; retrying", service, method, error.code)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self._retry.attempts - 1),
            # Full jitter: many callers that lost the same connection do not retry in step.
            wait=tenacity.wait_random_exponential(multiplier=self._retry.initial_backoff, max=self._retry.max_backoff),
            retry=tenacity.retry_if_exception(_should_retry),
            reraise=True,
        )
        return await retrying(self._once, service, method, request, entity, deadline)

    async def _once(self, service: str, method: str, request: Any, entity: str | None, deadline: float | None) -> Any:
        stub = await self.stub(service)
        try:
            return await getattr(stub, method)(request, timeout=deadline)
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, entity=entity) from None

    async def stream(self, service: str, method: str, request: Any, *, entity: str | None = None) -> AsyncIterator[Any]:
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
        """Release this Rpc's share of the running loop's channel; the last holder closes it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover
            return
        entry = self._held.pop(loop, None)
        if entry is not None and _release((self._key, loop), entry):
            await entry.channel.close()

    def release_all(self) -> list[tuple[asyncio.AbstractEventLoop, grpc.aio.Channel]]:
        """Release every share (from any thread); returns the channels whose last holder this was, to close."""
        to_close = []
        for loop, entry in list(self._held.items()):
            if _release((self._key, loop), entry):
                to_close.append((loop, entry.channel))
        self._held.clear()
        return to_close


def _release(pool_key: tuple[str, asyncio.AbstractEventLoop], entry: _SharedChannel) -> bool:
    entry.holders -= 1
    if entry.holders > 0:
        return False
    if _POOL.get(pool_key) is entry:
        del _POOL[pool_key]
    return True


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


def _should_retry(error: BaseException) -> bool:
    return isinstance(error, RemoteError) and error.code in _TRANSIENT and error.retryable


def is_transient(error: BaseException) -> bool:
    """True for errors after which a stream should be reopened."""
    return isinstance(error, RemoteError) and error.retryable
