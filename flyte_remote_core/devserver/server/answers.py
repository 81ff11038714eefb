"""Every HTTP error the devserver gives says what went wrong: :func:`answer_errors`.

It wraps the router. connectrpc answers some malformed requests with a bare status (405 for
a wrong method, 415 for a missing content type) and a body it cannot decode with UNKNOWN,
HTTP 500; an exception before any answer would leave hypercorn to send an empty 500. So an
error answer (status 400 and up) is held back until the app is done: a body it could not
decode becomes 400 ``invalid_argument`` naming the problem, an empty body gets a Connect-style
JSON message, and an unexpected exception becomes a 500 that says what failed. Successful
and streaming answers (gRPC errors travel in trailers of a 200) pass straight through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.json_format import ParseError
from google.protobuf.message import DecodeError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("flyte_remote_core.devserver")

# HTTP status -> (Connect code, what a bare answer of that status means here)
_BARE: dict[int, tuple[str, str]] = {
    400: ("invalid_argument", "the request is malformed"),
    401: ("unauthenticated", "a bearer token is required"),
    403: ("permission_denied", "the request is not allowed"),
    404: ("unimplemented", "no such path on the devserver"),
    405: ("unimplemented", "HTTP method {method} is not allowed here"),
    413: ("resource_exhausted", "the request is too large"),
    415: (
        "invalid_argument",
        "unsupported content type {ctype!r}: send application/proto or application/json (Connect), or application/grpc",
    ),
}


async def answer_errors(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    held = _Held(scope, send)
    try:
        await app(scope, receive, held.send)
    except (DecodeError, ParseError) as e:
        if held.holding:
            await held.replace(400, "invalid_argument", f"the request body could not be decoded: {e}")
            return
        log.debug("undecodable request body on %s: %s", scope.get("path"), e)
        return
    except Exception as e:
        log.exception("devserver: %s %s failed", scope.get("method"), scope.get("path"))
        if not held.started:
            await held.replace(500, "internal", f"the devserver failed on this request: {type(e).__name__}: {e}")
            return
    await held.flush()


class _Held:
    """The app's ``send``, holding an error answer back (see the module)."""

    def __init__(self, scope: Scope, send: Send) -> None:
        self._scope = scope
        self._send = send
        self.started = False
        self.holding = False
        self._start: Message = {}
        self._body: list[bytes] = []

    async def send(self, msg: Message) -> None:
        kind = msg["type"]
        if kind == "http.response.start":
            self.started = True
            if int(msg.get("status", 200)) >= 400 and not msg.get("trailers"):
                self.holding, self._start = True, msg
                return
        elif kind == "http.response.body" and self.holding:
            self._body.append(bytes(msg.get("body", b"")))
            return  # sent whole by flush() (or replaced) once the app is done
        elif self.holding:
            await self.flush()
        await self._send(msg)

    async def flush(self) -> None:
        if not self.holding:
            return
        self.holding = False
        status = int(self._start["status"])
        headers = list(self._start.get("headers", []))
        body = b"".join(self._body)
        if not body.strip() and self._scope.get("method") != "HEAD":
            code, message = self._bare(status, headers)
            await self._answer(status, code, message, headers)
            return
        await self._send(self._start)
        await self._send({"type": "http.response.body", "body": body})

    async def replace(self, status: int, code: str, message: str) -> None:
        self.holding = False
        await self._answer(status, code, message, [])

    def _bare(self, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        code, text = _BARE.get(status, ("unknown", f"HTTP {status}"))
        request = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._scope.get("headers", [])}
        message = text.format(method=self._scope.get("method"), ctype=request.get("content-type", ""))
        allow = [v.decode("latin-1") for k, v in headers if k.lower() == b"allow"]
        if allow:
            message += f" (allowed: {', '.join(allow)})"
        return code, message

    async def _answer(self, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps({"code": code, "message": message}).encode()
        keep = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
        await self._send({
            "type": "http.response.start", "status": status,
            "headers": [*keep, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })  # fmt: skip
        await self._send({"type": "http.response.body", "body": body})
