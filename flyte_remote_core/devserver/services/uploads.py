"""Signed, expiring upload URLs that DataProxyService hands out, served by the devserver itself.

``CreateUploadLocation`` signs ``(method-independent) key, expiry, md5`` with an
HMAC secret kept in the data folder, so URLs survive a restart. ``PUT`` checks
the signature, the expiry, the ``Content-MD5`` header and the body's MD5; ``GET``
with a valid signature returns the object.

Bodies never sit in memory or on the event loop: a PUT streams to a temporary file
(0600) written from a worker thread, in bounded batches, and becomes the object only
when complete and verified; a GET streams the file back the same way. An upload larger
than ``max_upload_bytes`` is refused with 413, from its ``Content-Length`` before any
byte is read, or as soon as the streamed body passes the limit (its partial file removed).
Every refusal is a 4xx whose body says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, quote

PREFIX = "/_storage/"  # the path prefix the server routes here
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024**3
MAX_KEY_PART_BYTES = 255  # NAME_MAX: longer file names cannot be created
MAX_KEY_CHARS = 1024
_BATCH = 1024 * 1024  # bytes handed to the writer thread at once: the memory an upload holds
_INCOMING = ".incoming"  # under the storage root: partial uploads, never served

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class UploadSigner:
    def __init__(self, data_dir: Path, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.root = Path(data_dir) / "storage"
        self.max_upload_bytes = max_upload_bytes
        secret_file = Path(data_dir) / "upload-secret"
        if secret_file.exists():
            self.secret = secret_file.read_bytes()
        else:
            self.secret = secrets.token_bytes(32)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.secret)

    def _sig(self, key: str, expires: int, md5: str) -> str:
        msg = f"{key}\n{expires}\n{md5}".encode(errors="surrogatepass")
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def path_of(self, key: str) -> Path:
        """The file of object ``key``; ValueError (its message fit for the caller) for a key no file can have."""
        check_key(key)
        p = (self.root / key).resolve()
        if not str(p).startswith(str(self.root.resolve()) + os.sep):
            raise ValueError(f"bad object key {key[:100]!r}: it leaves the storage folder")
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
        if not sig:
            return False, "the URL is not signed (no sig parameter); ask CreateUploadLocation for one", md5
        if not hmac.compare_digest(sig, self._sig(key, expires, md5)):
            return False, "signature does not match", md5
        if expires < time.time():
            return False, "signed URL expired", md5
        return True, "", md5


def check_key(key: str) -> None:
    """Refuse (ValueError) a key the file system cannot hold or that hides a path trick."""
    if not key or key.startswith("/"):
        raise ValueError("bad object key: empty or absolute")
    if any(ord(c) < 0x20 or c == "\x7f" for c in key):
        raise ValueError("bad object key: it contains control characters")
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(f"bad object key: {len(key)} characters, at most {MAX_KEY_CHARS} are allowed")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"bad object key {key[:100]!r}: empty, '.' or '..' path segment")
        if len(part.encode(errors="surrogatepass")) > MAX_KEY_PART_BYTES:
            raise ValueError(f"bad object key: the name {part[:40]!r}... is longer than {MAX_KEY_PART_BYTES} bytes")


def too_large_message(limit: int, size: int | None = None) -> str:
    what = f"{size} bytes is" if size is not None else "the body is"
    return (
        f"upload too large: {what} more than the devserver's limit of {limit} bytes per object "
        "(DevServer(max_upload_bytes=...), flyte-devserver --max-upload-bytes)"
    )


async def handle_storage(signer: UploadSigner, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI handler of ``PREFIX``: GET/HEAD a stored object, PUT one (checking signature and MD5)."""
    method = scope["method"]
    key = scope["path"][len(PREFIX) :]  # percent-decoded once by the server, as sign() quoted it once
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        path = signer.path_of(key)
    except ValueError as e:
        await _drain(receive)
        await reply(send, 400, str(e))
        return
    ok, reason, signed_md5 = signer.verify(key, query)
    if not ok:
        await _drain(receive)
        await reply(send, 403, reason)
        return
    if method in ("GET", "HEAD"):
        await _send_file(send, path, head=method == "HEAD")
        return
    if method != "PUT":
        await _drain(receive)
        await reply(send, 405, f"{method} is not allowed on a signed storage URL: use PUT, GET or HEAD")
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    header_md5 = headers.get("content-md5", "")
    if signed_md5 and header_md5 != signed_md5:
        await _drain(receive)
        await reply(send, 400, "Content-MD5 header does not match the signed MD5")
        return
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > signer.max_upload_bytes:
        # Refused before reading a byte: the client learns at once, the server holds nothing.
        await reply(send, 413, too_large_message(signer.max_upload_bytes, int(declared)), close=True)
        return
    await _receive_upload(signer, path, signed_md5 or header_md5, receive, send)


async def _receive_upload(signer: UploadSigner, path: Path, expected_md5: str, receive: Receive, send: Send) -> None:
    """Stream the body into a temporary file; verified and complete, it replaces ``path``.

    The partial file is removed before the answer goes out, so a client that sees a refusal
    never finds it left behind.
    """
    incoming = signer.root / _INCOMING
    await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
    fd, tmp_name = await asyncio.to_thread(tempfile.mkstemp, dir=incoming)  # mode 0600
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            answer = await _stream_body(f, signer.max_upload_bytes, expected_md5, receive)
        if answer is not None and answer[0] == 200:
            await asyncio.to_thread(_publish, tmp, path)
    except OSError as e:
        answer = (507 if e.errno == errno.ENOSPC else 400, f"could not store the object: {e.strerror or e}")
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(tmp.unlink)  # gone already when it became the object
    if answer is not None:
        status, message = answer
        await reply(send, status, message, close=status == 413)


async def _stream_body(f: IO[bytes], limit: int, expected_md5: str, receive: Receive) -> tuple[int, str] | None:
    """Write the body to ``f`` from a thread, in batches; the answer to give (None: the client left)."""
    md5 = hashlib.md5()
    size = 0
    batch: list[bytes] = []
    pending = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        body = msg.get("body", b"")
        size += len(body)
        if size > limit:
            return 413, too_large_message(limit)
        if body:
            batch.append(body)
            pending += len(body)
        more = bool(msg.get("more_body", False))
        if pending >= _BATCH or (not more and batch):
            await asyncio.to_thread(_write, f, md5, batch)
            batch, pending = [], 0
        if not more:
            break
    actual = base64.b64encode(md5.digest()).decode()
    if expected_md5 and actual != expected_md5:
        return 400, "body MD5 does not match Content-MD5"
    return 200, ""


def _write(f: IO[bytes], md5: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        md5.update(chunk)
        f.write(chunk)


def _publish(tmp: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)


async def _send_file(send: Send, path: Path, *, head: bool) -> None:
    """Stream a stored object back in batches read from a thread."""
    try:
        f = await asyncio.to_thread(open, path, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        await reply(send, 404, "no such object")
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        await send({
            "type": "http.response.start", "status": 200,
            "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())],
        })  # fmt: skip
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        while True:
            chunk = await asyncio.to_thread(f.read, _BATCH)
            await send({"type": "http.response.body", "body": chunk, "more_body": bool(chunk)})
            if not chunk:
                return


async def reply(send: Send, status: int, message: str, *, close: bool = False) -> None:
    """A plain-text answer; ``close`` when the request body was not read (the connection cannot be reused)."""
    body = (message + "\n").encode() if message else b""
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body", False):
            return
