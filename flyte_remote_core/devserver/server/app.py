"""The devserver's ASGI entry point: one router in front of the connectrpc apps.

* ``/<package.Service>/<Method>``: the connectrpc app of that service (gRPC over
  HTTP/2 and Connect over HTTP/1.1 or HTTP/2, one implementation).
* Unknown services or methods answer UNIMPLEMENTED in the caller's protocol (a gRPC
  client gets ``grpc-status: 12``, never a bare HTTP 404 or a hang).
* ``GET /healthz``: ``ok``.
* ``/_storage/...``: signed upload/download URLs (see :mod:`..services.uploads`).
* ``/oauth2/...``: the OAuth2 token endpoint when auth is on.
* Every error answer carries a message (:mod:`.answers`): a malformed request gets a 4xx.
* ``/v2/...``: the web console (run pages at the URLs the client prints; see :mod:`..console`).
* A stream whose client has gone ends at once (:func:`until_client_gone`), not at its next
  message: a watch of a quiet project, or of a run that has ended, may have none for hours.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from ..services.uploads import PREFIX as STORAGE_PREFIX
from .answers import answer_errors

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def known_paths(app: Any) -> set[str] | None:
    """Method paths served by a connectrpc ASGI app (None if they cannot be listed)."""
    try:
        return set(app._endpoints(app._service).keys())  # connectrpc 0.10 internals
    except Exception:
        return None


class Router:
    def __init__(
        self,
        apps: dict[str, ASGIApp],
        *,
        storage: ASGIApp | None = None,
        oauth2: ASGIApp | None = None,
        console: ASGIApp | None = None,
        on_startup: Callable[[], None] | None = None,
    ) -> None:
        self.apps: dict[str, ASGIApp] = {}
        self.paths: dict[str, set[str] | None] = {}
        for prefix, app in apps.items():
            self.add(prefix, app)
        self.storage = storage
        self.oauth2 = oauth2
        self.console = console
        self.on_startup = on_startup

    def add(self, prefix: str, app: ASGIApp) -> None:
        prefix = "/" + prefix.strip("/")
        self.apps[prefix] = app
        self.paths[prefix] = known_paths(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    try:
                        if self.on_startup is not None:
                            self.on_startup()
                    except Exception as e:  # pragma: no cover
                        await send({"type": "lifespan.startup.failed", "message": str(e)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        await answer_errors(self._route, scope, receive, send)  # no error answer without a message

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == "/healthz":
            await _plain(send, 200, b"ok\n")
            return
        if path.startswith(STORAGE_PREFIX) and self.storage is not None:
            await self.storage(scope, receive, send)
            return
        if path.startswith("/oauth2/") and self.oauth2 is not None:
            await self.oauth2(scope, receive, send)
            return
        # No service is named "v2", so the console's pages cannot shadow an RPC path.
        if path.startswith("/v2/") and self.console is not None:
            await self.console(scope, receive, send)
            return
        parts = path.split("/")
        prefix = "/" + parts[1] if len(parts) > 2 else ""
        app = self.apps.get(prefix)
        if app is not None:
            paths = self.paths.get(prefix)
            if paths is None or path in paths:
                await until_client_gone(app, scope, receive, send)
                return
        await unimplemented(scope, receive, send, f"{path.lstrip('/') or '/'} is not implemented by the devserver")


async def until_client_gone(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run a connectrpc app, cancelled when its client goes away.

    connectrpc watches a server stream's ``receive`` for the disconnect, but it looks only when
    the stream has a message to send. Here the disconnect cancels the request's task, so the
    handler and its connection go at once; the cancellation (which connectrpc turns into a
    CANCELED error) ends the request quietly.
    """
    task = asyncio.current_task()
    gone = False

    async def watched_receive() -> dict[str, Any]:
        nonlocal gone
        message = await receive()
        # Only a read from another task (connectrpc's watch of a stream) cancels: a handler
        # reading its own request body sees the disconnect itself.
        if message["type"] == "http.disconnect" and task is not None and asyncio.current_task() is not task:
            gone = True
            task.cancel()
        return message

    try:
        await app(scope, watched_receive, send)
    except (asyncio.CancelledError, Exception):
        if not gone:
            raise
        if task is not None:
            task.uncancel()


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def unimplemented(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    await error_response(scope, receive, send, 12, "unimplemented", message)


async def error_response(
    scope: Scope, receive: Receive, send: Send, grpc_code: int, connect_code: str, message: str
) -> None:
    """Answer an RPC with an error in the caller's protocol, without a connectrpc app."""
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    ctype = headers.get("content-type", "")
    # Drain the request body so that the client's send completes.
    if scope.get("method") not in ("GET", "HEAD"):
        while True:
            msg = await receive()
            if msg["type"] != "http.request" or not msg.get("more_body", False):
                break
    if ctype.startswith("application/grpc"):
        trailers = [(b"grpc-status", str(grpc_code).encode()), (b"grpc-message", quote(message, safe=" ").encode())]
        if "http.response.trailers" in scope.get("extensions", {}):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", ctype.encode())],
                    "trailers": True,
                }
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})
        else:  # trailers-only response
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", ctype.encode()), *trailers],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        return
    err = {"code": connect_code, "message": message}
    if ctype.startswith("application/connect+"):
        body = json.dumps({"error": err}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype.encode())]})
        await send({"type": "http.response.body", "body": struct.pack(">BI", 2, len(body)) + body})
        return
    status = {"unimplemented": 404, "unauthenticated": 401, "unavailable": 503}.get(connect_code, 500)
    body = json.dumps(err).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
