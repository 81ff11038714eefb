"""Signed-URL uploads (``_upload.put_signed``) against a real HTTP server on 127.0.0.1 that
answers from a script: Retry-After (seconds and HTTP-date), permanent errors, dead sockets."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flyte_remote_core import StorageError
from flyte_remote_core._services._upload import put_signed

pytestmark = pytest.mark.timeout(30)

SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1sZWFr"
QUERY = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature={SIGNATURE}"


@dataclass
class Seen:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


# A scripted answer: (status, headers, body), or a callable giving one at request time.
Answer = tuple[int, dict[str, str], bytes] | Callable[[], tuple[int, dict[str, str], bytes]]


@dataclass
class ScriptedServer:
    script: list[Answer]
    seen: list[Seen] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "/bucket/key.bin") -> str:
        return f"{self.base}{path}?{QUERY}"


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def make(*script: Answer) -> ScriptedServer:
        state = ScriptedServer(list(script))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                state.seen.append(
                    Seen(time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                answer = state.script.pop(0) if state.script else (200, {}, b"")
                status, headers, payload = answer() if callable(answer) else answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        state.httpd = httpd
        threading.Thread(target=httpd.serve_forever, name="scripted-http", daemon=True).start()
        servers.append(state)
        return state

    yield make
    for s in servers:
        assert s.httpd is not None
        s.httpd.shutdown()
        s.httpd.server_close()


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, bytes]:
    data = b"flyte upload payload\n" * 100
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, hashlib.md5(data).digest()


def _put(url: str, path: Path, md5: bytes, headers: dict[str, str] | None = None) -> None:
    asyncio.run(put_signed(url, path, md5, dict(headers or {}), verify=True))


def test_503_with_retry_after_is_retried_and_honoured(scripted, payload) -> None:
    path, md5 = payload
    server = scripted(
        (503, {"Retry-After": "1"}, b"slow down"), (503, {"Retry-After": "1"}, b"slow down"), (200, {}, b"")
    )
    t0 = time.monotonic()
    _put(server.url(), path, md5, {"x-amz-meta-origin": "test"})
    elapsed = time.monotonic() - t0
    assert len(server.seen) == 3
    assert elapsed >= 1.9, elapsed  # two Retry-After: 1 waits
    gaps = [b.at - a.at for a, b in zip(server.seen, server.seen[1:], strict=False)]
    assert all(g >= 0.95 for g in gaps), gaps
    expected_md5 = base64.b64encode(md5).decode()
    for seen in server.seen:
        assert seen.headers["content-md5"] == expected_md5
        assert seen.headers["x-amz-meta-origin"] == "test"
        assert seen.body == path.read_bytes()  # the whole body, every time
        assert seen.path == f"/bucket/key.bin?{QUERY}"


def test_429_with_an_http_date_retry_after(scripted, payload) -> None:
    path, md5 = payload

    def too_many() -> tuple[int, dict[str, str], bytes]:
        when = email.utils.formatdate(time.time() + 2, usegmt=True)  # second resolution: 1..2 s from now
        return 429, {"Retry-After": when}, b"rate limited"

    server = scripted(too_many, (200, {}, b""))
    t0 = time.monotonic()
    _put(server.url(), path, md5)
    elapsed = time.monotonic() - t0
    assert len(server.seen) == 2
    gap = server.seen[1].at - server.seen[0].at
    assert 0.9 <= gap <= 4.0, gap
    assert elapsed < 6


def test_400_is_a_storage_error_at_once_without_the_signature(scripted, payload) -> None:
    path, md5 = payload
    server = scripted((400, {"Content-Type": "text/plain"}, b"bad digest"))
    t0 = time.monotonic()
    with pytest.raises(StorageError) as err:
        _put(server.url(), path, md5)
    assert len(server.seen) == 1
    assert time.monotonic() - t0 < 2
    message = str(err.value)
    assert "400" in message and "bad digest" in message
    assert SIGNATURE not in message and "X-Amz-Signature" not in message and QUERY not in message


def test_403_is_not_retried(scripted, payload) -> None:
    path, md5 = payload
    server = scripted((403, {}, b"expired"))
    with pytest.raises(StorageError, match="403"):
        _put(server.url(), path, md5)
    assert len(server.seen) == 1


def test_an_error_body_that_echoes_the_url_does_not_leak_the_signature(scripted, payload) -> None:
    path, md5 = payload
    server = scripted(lambda: (400, {}, f"bad request: PUT /bucket/key.bin?{QUERY}".encode()))
    with pytest.raises(StorageError) as err:
        _put(server.url(), path, md5)
    assert SIGNATURE not in str(err.value)


def test_error_body_secrets_are_redacted(scripted, payload) -> None:
    path, md5 = payload
    server = scripted((401, {}, b"denied: token=abc123secretvalue; password: hunter2hunter2"))
    with pytest.raises(StorageError) as err:
        _put(server.url(), path, md5)
    assert "abc123secretvalue" not in str(err.value) and "hunter2hunter2" not in str(err.value)


def test_persistent_5xx_gives_up_after_five_attempts(scripted, payload) -> None:
    path, md5 = payload
    server = scripted(*[(500, {"Retry-After": "0"}, b"boom")] * 10)
    with pytest.raises(StorageError, match="HTTP 500"):
        _put(server.url(), path, md5)
    assert len(server.seen) == 5


def test_garbage_retry_after_falls_back_to_backoff(scripted, payload) -> None:
    path, md5 = payload
    server = scripted((502, {"Retry-After": "whenever"}, b""), (200, {}, b""))
    t0 = time.monotonic()
    _put(server.url(), path, md5)
    assert len(server.seen) == 2
    assert time.monotonic() - t0 < 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_a_storage_error_after_retries(payload) -> None:
    path, md5 = payload
    port = _free_port()  # nothing listens there any more
    url = f"http://127.0.0.1:{port}/bucket/key.bin?{QUERY}"
    t0 = time.monotonic()
    with pytest.raises(StorageError) as err:
        _put(url, path, md5)
    elapsed = time.monotonic() - t0
    assert "ConnectError" in str(err.value)
    assert SIGNATURE not in str(err.value)
    assert elapsed < 10, elapsed


def test_connections_dropped_by_the_server_are_retried_five_times(payload) -> None:
    path, md5 = payload
    accepted: list[float] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_and_drop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(time.monotonic())
            conn.close()  # before any response: a transport error for the client

    thread = threading.Thread(target=accept_and_drop, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/bucket/key.bin?{QUERY}"
        with pytest.raises(StorageError) as err:
            _put(url, path, md5)
    finally:
        stop.set()
        thread.join(2)
        listener.close()
    assert len(accepted) == 5, accepted
    assert SIGNATURE not in str(err.value)
