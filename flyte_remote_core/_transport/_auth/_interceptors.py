"""grpc.aio client interceptors that put a bearer token on every call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from ._sources import TokenSource

__all__ = ["auth_interceptors"]


class _BearerInterceptor:
    def __init__(self, source: TokenSource, header: str | None, retry_unauthenticated: bool) -> None:
        self._source = source
        self._header = header.lower() if header else None  # gRPC metadata keys are lower-case
        self._retry = retry_unauthenticated

    async def _details(
        self, details: grpc.aio.ClientCallDetails, *, refresh: bool = False
    ) -> grpc.aio.ClientCallDetails:
        token = await self._source.token(refresh=refresh)
        # The header name may only be known after discovery, which token() triggers.
        header = self._header or getattr(self._source, "header_name", None) or "authorization"
        metadata = grpc.aio.Metadata()
        for key, value in details.metadata or ():
            if key.lower() != header:
                metadata.add(key, value)
        metadata.add(header, f"Bearer {token}")
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self._header!r}, source={self._source!r})"


class _UnaryUnary(_BearerInterceptor, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        call = await continuation(await self._details(client_call_details), request)
        if not self._retry:
            return call
        # A unary request can be replayed safely: the server refused it before acting.
        if await call.code() != grpc.StatusCode.UNAUTHENTICATED:
            return call
        return await continuation(await self._details(client_call_details, refresh=True), request)


class _UnaryStream(_BearerInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        call = await continuation(await self._details(client_call_details), request)
        if not self._retry:
            return call
        return self._replay_once(call, continuation, client_call_details, request)

    async def _replay_once(self, call: Any, continuation: Any, details: Any, request: Any) -> AsyncIterator[Any]:
        # A stream refused with UNAUTHENTICATED before its first message was never acted on,
        # so it is replayed once with a fresh token (a revoked or rotated token must not end
        # a watch). Once a message has arrived, errors go to the caller as they are.
        received = False
        try:
            async for message in call:
                received = True
                yield message
        except grpc.aio.AioRpcError as exc:
            if received or exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            retry = await continuation(await self._details(details, refresh=True), request)
            async for message in retry:
                yield message


class _StreamUnary(_BearerInterceptor, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(await self._details(client_call_details), request_iterator)


class _StreamStream(_BearerInterceptor, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(await self._details(client_call_details), request_iterator)


def auth_interceptors(
    source: TokenSource, header: str | None = None, *, retry_unauthenticated: bool = True
) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors adding ``<header>: Bearer <token>`` to all four call kinds.

    ``header=None`` uses the name the source discovered (``authorization_metadata_key``),
    else ``authorization``. Unary calls answered UNAUTHENTICATED, and server streams
    refused before their first message, are retried once with a freshly fetched token. For a proxy
    token pass ``header="proxy-authorization"``
    and ``retry_unauthenticated=False``.
    """
    return [
        _UnaryUnary(source, header, retry_unauthenticated),
        _UnaryStream(source, header, retry_unauthenticated),
        _StreamUnary(source, header, retry_unauthenticated),
        _StreamStream(source, header, retry_unauthenticated),
    ]
