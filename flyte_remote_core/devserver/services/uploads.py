"""Signed, expiring upload URLs that DataProxyService hands out, served by the devserver itself.

``CreateUploadLocation`` signs ``(method-independent) key, expiry, md5`` with an
HMAC secret kept in the data folder, so URLs survive a restart. ``PUT`` checks
the signature, the expiry, the ``Content-MD5`` header and the body's MD5; ``GET``
with a valid signature returns the object.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

PREFIX = "/_storage/"  # the path prefix the server routes here
MAX_UPLOAD = 2 * 1024**3


class UploadSigner:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "storage"
        secret_file = Path(data_dir) / "upload-secret"
        if secret_file.exists():
            self.secret = secret_file.read_bytes()
        else:
            self.secret = secrets.token_bytes(32)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.secret)

    def _sig(self, key: str, expires: int, md5: str) -> str:
        msg = f"{key}\n{expires}\n{md5}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def path_of(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if not str(p).startswith(str(self.root.resolve()) + os.sep):
            raise ValueError(f"bad object key {key!r}")
        return p

    def sign(self, base_url: str, key: str, expires_at: int, md5_b64: str) -> str:
        q = f"expires={expires_at}&sig={self._sig(key, expires_at, md5_b64)}"
        if md5_b64:
            q += "&md5=" + quote(md5_b64, safe="")
        return f"{base_url}{PREFIX}{quote(key)}?{q}"

    def verify(self, key: str, query: str) -> tuple[bool, str, str]:
        """(ok, reason, signed md5)."""
        params = parse_qs(query, keep_blank_values=True)
        try:
            expires = int(params.get("expires", ["0"])[0])
        except ValueError:
            return False, "bad expiry", ""
        sig = params.get("sig", [""])[0]
        md5 = params.get("md5", [""])[0]
        if not hmac.compare_digest(sig, self._sig(key, expires, md5)):
            return False, "signature does not match", md5
        if expires < time.time():
            return False, "signed URL expired", md5
        return True, "", md5


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def handle_storage(signer: UploadSigner, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI handler of ``PREFIX``: GET/HEAD a stored object, PUT one (checking signature and MD5)."""
    method = scope["method"]
    key = unquote(scope["path"][len(PREFIX) :])
    query = scope.get("query_string", b"").decode()

    async def reply(status: int, body: bytes = b"", ctype: bytes = b"text/plain") -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    try:
        path = signer.path_of(key)
    except ValueError as e:
        await reply(400, str(e).encode())
        return
    ok, reason, signed_md5 = signer.verify(key, query)
    if not ok:
        await _drain(receive)
        await reply(403, reason.encode())
        return
    if method in ("GET", "HEAD"):
        if not path.is_file():
            await reply(404, b"no such object")
            return
        data = path.read_bytes()
        await reply(200, b"" if method == "HEAD" else data, b"application/octet-stream")
        return
    if method != "PUT":
        await _drain(receive)
        await reply(405, b"use PUT")
        return
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    header_md5 = headers.get("content-md5", "")
    if signed_md5 and header_md5 != signed_md5:
        await _drain(receive)
        await reply(400, b"Content-MD5 header does not match the signed MD5")
        return
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        body = msg.get("body", b"")
        size += len(body)
        if size > MAX_UPLOAD:
            await reply(413, b"too large")
            return
        chunks.append(body)
        if not msg.get("more_body", False):
            break
    data = b"".join(chunks)
    actual = base64.b64encode(hashlib.md5(data).digest()).decode()
    expected = signed_md5 or header_md5
    if expected and actual != expected:
        await reply(400, b"body MD5 does not match Content-MD5")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    await reply(200, b"")


async def _drain(receive: Receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body", False):
            return
