"""The OAuth 2.0 HTTP endpoints, as one ASGI app.

``POST /oauth2/token`` (client credentials, device code, refresh token grants) and
``POST /oauth2/device/code``, with client authentication by HTTP Basic or form fields
and RFC 6749 JSON answers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from .clients import ClientBook
from .device import DeviceFlow
from .grants import DEVICE_GRANT, InvalidClientError, Receive, Scope, Send
from .tokens import TokenBook


@dataclass(eq=False, kw_only=True)
class TokenEndpoint:
    """``POST .../oauth2/token`` and ``POST .../oauth2/device/code``; each grant is checked by its book."""

    clients: ClientBook
    tokens: TokenBook
    devices: DeviceFlow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app for ``POST /oauth2/token`` and ``POST /oauth2/device/code`` (any path prefix)."""
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if scope.get("method") != "POST":
            await json_response(send, 405, {"error": "invalid_request", "error_description": "use POST"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client_id, client_secret = client_auth(headers.get("authorization"), form)
        if path.endswith("/oauth2/device/code"):
            if not client_id:
                await json_response(
                    send, 400, {"error": "invalid_request", "error_description": "client_id is required"}
                )
                return
            await json_response(send, 200, self.devices.start(client_id))
            return
        if not path.endswith("/oauth2/token"):
            await json_response(send, 404, {"error": "not_found"})
            return
        status, answer = self.grant(form.get("grant_type", ""), form, client_id, client_secret)
        extra = [(b"www-authenticate", b'Basic realm="flyte-devserver"')] if status == 401 else []
        await json_response(send, status, answer, extra)

    def grant(
        self, grant_type: str, form: dict[str, str], client_id: str | None, client_secret: str | None
    ) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, JSON answer)`` of a token request (RFC 6749 / RFC 8628)."""
        if grant_type == "client_credentials":
            try:
                client = self.clients.verify(client_id or "", client_secret or "")
            except InvalidClientError:
                return 401, {"error": "invalid_client", "error_description": "client authentication failed"}
            return 200, self.tokens.issue(client_id or "", client["name"])
        if grant_type == DEVICE_GRANT:
            if not form.get("device_code") or not client_id:
                return 400, {"error": "invalid_request", "error_description": "device_code and client_id are required"}
            return self.devices.poll(form["device_code"], client_id)
        if grant_type == "refresh_token":
            if not form.get("refresh_token"):
                return 400, {"error": "invalid_request", "error_description": "refresh_token is required"}
            return self.tokens.use_refresh(form["refresh_token"])
        return 400, {"error": "unsupported_grant_type"}


def client_auth(header: str | None, form: dict[str, str]) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic (RFC 6749 2.3.1, form-urlencoded parts) or the form."""
    if header and header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        cid, _, secret = raw.partition(":")
        return unquote_plus(cid), unquote_plus(secret)
    return form.get("client_id") or None, form.get("client_secret") or None


async def json_response(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),  # RFC 6749 5.1
        (b"content-length", str(len(data)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
