"""Signed-URL uploads against a ``flyte-devserver`` process: bodies stream to disk with bounded
memory while the server stays responsive, and ``--max-upload-bytes`` is answered by HTTP 413
(from Content-Length before any byte is read, and while streaming), leaving no partial file.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.dataproxy import dataproxy_service_pb2_grpc as dp_grpc

from flyte_remote_core.devserver import DevServer

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[3]
MiB = 1024 * 1024


class CliServer:
    """A ``flyte-devserver`` process on a free port, stopped with SIGTERM."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        cmd = [sys.executable, "-m", "flyte_remote_core.devserver", "--port", "0", "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(
            [*cmd, *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        self.endpoint, lines = "", []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if m := re.match(r"endpoint: (\S+)", line):
                self.endpoint = m.group(1)
            if "ready on" in line:
                # Keep reading its output so that a chatty server never blocks on a full pipe.
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return
        self.proc.kill()
        raise AssertionError("the devserver did not become ready:\n" + "".join(lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def location(self, filename: str, *, md5: bytes = b"", length: int = 0) -> dp.CreateUploadLocationResponse:
        with grpc.insecure_channel(self.endpoint) as ch:
            req = dp.CreateUploadLocationRequest(
                project="flytesnacks", domain="development", filename=filename, content_md5=md5, content_length=length
            )
            stub = dp_grpc.DataProxyServiceStub(ch)  # type: ignore[no-untyped-call]
            resp: dp.CreateUploadLocationResponse = stub.CreateUploadLocation(req, timeout=10)
            return resp

    def incoming(self) -> list[Path]:
        """Partial uploads left behind."""
        folder = self.data_dir / "storage" / ".incoming"
        return list(folder.iterdir()) if folder.exists() else []


def _body(total: int, chunk: int = MiB) -> Iterator[bytes]:
    """``total`` bytes of a repeating pattern, one chunk at a time (never all in memory)."""
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def _md5(total: int) -> bytes:
    h = hashlib.md5()
    for piece in _body(total):
        h.update(piece)
    return h.digest()


def _rss(pid: int) -> int:
    """The process's resident memory in bytes (Linux: VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture
def big_server(tmp_path: Path) -> Iterator[CliServer]:
    srv = CliServer(tmp_path / "data")
    yield srv
    srv.stop()


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[CliServer]:
    srv = CliServer(tmp_path / "data", "--max-upload-bytes", str(MiB))
    yield srv
    srv.stop()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc (Linux)")
def test_a_200_mib_upload_streams_with_bounded_memory_and_health_stays_fast(big_server: CliServer) -> None:
    total = 200 * MiB
    md5 = _md5(total)
    loc = big_server.location("big.bin", md5=md5, length=total)
    headers = {**dict(loc.headers), "Content-Length": str(total)}
    with httpx.Client(timeout=60) as http:  # warm the server's upload path before the baseline
        warm = big_server.location("warm.bin")
        assert http.put(warm.signed_url, content=b"x" * 4096).status_code == 200
    pid = big_server.proc.pid
    baseline = _rss(pid)
    peak, health = [baseline], []
    done = threading.Event()

    def watch() -> None:
        with httpx.Client(timeout=10) as http:
            while not done.is_set():
                peak.append(_rss(pid))
                t0 = time.perf_counter()
                assert http.get(f"http://{big_server.endpoint}/healthz").text.strip() == "ok"
                health.append(time.perf_counter() - t0)
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with httpx.Client(timeout=120) as http:
            resp = http.put(loc.signed_url, content=_body(total), headers=headers)
    finally:
        done.set()
        watcher.join(30)
    assert resp.status_code == 200, resp.text
    growth = max(peak) - baseline
    print(f"\nRSS growth during a 200 MiB PUT: {growth / MiB:.1f} MiB; /healthz max {max(health) * 1000:.0f} ms"
          f" over {len(health)} probes")  # fmt: skip
    assert len(health) >= 5  # the upload took long enough for the probes to mean something
    assert growth < 64 * MiB
    assert max(health) < 0.5
    stored = Path(loc.native_url.removeprefix("file://"))
    assert stored.stat().st_size == total
    h = hashlib.md5()
    with stored.open("rb") as f:
        while piece := f.read(MiB):
            h.update(piece)
    assert h.digest() == md5
    assert big_server.incoming() == []


def test_content_length_over_the_limit_is_refused_before_the_body(small_server: CliServer) -> None:
    loc = small_server.location("too-big.bin")
    url = httpx.URL(loc.signed_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        # Headers only: the answer must come without the server waiting for 10 MiB that never come.
        conn.putrequest("PUT", url.raw_path.decode())
        conn.putheader("Content-Length", str(10 * MiB))
        conn.endheaders()
        resp = conn.getresponse()
        message = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 413
    assert str(MiB) in message and "--max-upload-bytes" in message
    assert small_server.incoming() == []


def test_a_streamed_body_over_the_limit_gets_413_and_leaves_no_file(small_server: CliServer) -> None:
    loc = small_server.location("streamed.bin")
    url = httpx.URL(loc.signed_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        # Chunked: no Content-Length to check up front, so the limit must hold while streaming.
        conn.putrequest("PUT", url.raw_path.decode())
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in _body(MiB + 64 * 1024, chunk=64 * 1024):
            try:
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except OSError:
                break  # the server answered and closed: read its answer
        resp = conn.getresponse()
        message = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 413, message
    assert str(MiB) in message
    assert not Path(loc.native_url.removeprefix("file://")).exists()
    assert small_server.incoming() == []


def test_an_upload_at_the_limit_is_stored(small_server: CliServer) -> None:
    md5 = _md5(MiB)
    loc = small_server.location("exact.bin", md5=md5, length=MiB)
    with httpx.Client(timeout=30) as http:
        resp = http.put(loc.signed_url, content=b"".join(_body(MiB)), headers=dict(loc.headers))
        assert resp.status_code == 200, resp.text
        got = http.get(loc.signed_url)
    assert got.status_code == 200 and hashlib.md5(got.content).digest() == md5
    assert base64.b64encode(md5).decode() == dict(loc.headers)["Content-MD5"]


def test_create_upload_location_refuses_a_declared_length_over_the_limit(small_server: CliServer) -> None:
    with pytest.raises(grpc.RpcError) as err:
        small_server.location("declared.bin", length=MiB + 1)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(MiB) in (err.value.details() or "")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "5G"])
def test_max_upload_bytes_is_checked_up_front(bad: object) -> None:
    with pytest.raises(ValueError, match="max_upload_bytes"):
        DevServer(max_upload_bytes=bad)  # type: ignore[arg-type]


def test_the_cli_refuses_a_bad_limit(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "flyte_remote_core.devserver", "--max-upload-bytes", "lots"]
    out = subprocess.run([*cmd, "--data-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--max-upload-bytes" in out.stderr
