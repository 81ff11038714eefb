"""Hostile and malformed HTTP requests against a real devserver: every one is answered with a
4xx and a message, never a 500 or an empty body (the storage routes, the RPC routes, the rest)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.dataproxy import dataproxy_service_pb2_grpc as dp_grpc

from flyte_remote_core.devserver import DevServer
from flyte_remote_core.devserver.services.uploads import UploadSigner

pytestmark = pytest.mark.timeout(60)
CREATE_RUN = "/flyteidl2.workflow.RunService/CreateRun"
UPLOAD_LOCATION = "/flyteidl2.dataproxy.DataProxyService/CreateUploadLocation"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path_factory.mktemp("hostile")) as server:
        yield server


def _signed(srv: DevServer, key: str) -> str:
    """A correctly signed path for ``key`` (the server's own key signs it): only the key is wrong."""
    return UploadSigner(srv.data_dir).sign("", key, int(time.time()) + 600, "")


def _request(
    srv: DevServer, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(srv.config.host, srv.port, timeout=15)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


LONG_NAME = "n" * 300
SHAPES: list[tuple[str, str, str, bytes, dict[str, str]]] = [
    # (id, method, target, body, headers); "{signed:KEY}" targets are signed for KEY
    ("long-file-name", "PUT", "{signed:uploads/flytesnacks/development/abc/" + LONG_NAME + "}", b"data", {}),
    ("long-key", "PUT", "{signed:uploads/" + "/".join(["d" * 200] * 8) + "}", b"data", {}),
    ("long-unsigned-name", "PUT", "/_storage/uploads/" + LONG_NAME, b"data", {}),
    ("very-long-path", "GET", "/_storage/" + "p" * 10_000, b"", {}),
    ("dot-dot", "PUT", "/_storage/uploads/../../../etc/passwd?expires=9999999999&sig=x", b"x", {}),
    ("escaped-dot-dot", "GET", "/_storage/uploads/%2e%2e/%2e%2e/%2e%2e/etc/passwd", b"", {}),
    ("signed-dot-dot", "PUT", "{signed:uploads/../../upload-secret}", b"x", {}),
    ("nul-escape", "GET", "/_storage/uploads/a%00b?expires=1&sig=x", b"", {}),
    ("newline-escape", "PUT", "/_storage/uploads/a%0d%0ab", b"x", {}),
    ("bad-utf8-escape", "GET", "/_storage/uploads/%ff%fe%c0", b"", {}),
    ("bogus-escape", "GET", "/_storage/uploads/%zz%", b"", {}),
    ("empty-key", "GET", "/_storage/", b"", {}),
    ("trailing-slash-key", "PUT", "{signed:uploads/folder/}", b"x", {}),
    ("missing-signature", "PUT", "/_storage/uploads/x.bin", b"data", {}),
    ("bad-expiry", "PUT", "/_storage/uploads/x.bin?expires=soon&sig=abc", b"data", {}),
    ("wrong-signature", "GET", "/_storage/uploads/x.bin?expires=9999999999&sig=" + "0" * 64, b"", {}),
    ("missing-object", "GET", "{signed:uploads/never-uploaded.bin}", b"", {}),
    ("wrong-method-delete", "DELETE", "{signed:uploads/x.bin}", b"", {}),
    ("wrong-method-post", "POST", "{signed:uploads/x.bin}", b"data", {}),
    ("bad-content-md5", "PUT", "{signed:uploads/x.bin}", b"data", {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}),
    ("rpc-get", "GET", CREATE_RUN, b"", {}),
    ("rpc-garbage-proto", "POST", CREATE_RUN, b"\xff\x00garbage", {"Content-Type": "application/proto"}),
    ("rpc-garbage-json", "POST", CREATE_RUN, b"{not json", {"Content-Type": "application/json"}),
    ("rpc-no-content-type", "POST", CREATE_RUN, b"{}", {}),
    ("rpc-long-filename", "POST", UPLOAD_LOCATION,
     json.dumps({"project": "flytesnacks", "domain": "development", "filename": "f" * 5000}).encode(),
     {"Content-Type": "application/json"}),
    ("unknown-service", "POST", "/no.such.Service/Method", b"{}", {"Content-Type": "application/json"}),
    ("unknown-path", "GET", "/" + "x" * 5000, b"", {}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "target", "body", "headers"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_a_hostile_request_gets_a_4xx_with_a_message(
    srv: DevServer, method: str, target: str, body: bytes, headers: dict[str, str]
) -> None:
    if target.startswith("{signed:"):
        target = _signed(srv, target[len("{signed:") : -1])
    status, answer = _request(srv, method, target, body, headers)
    assert 400 <= status < 500, (status, answer[:300])
    assert answer.strip(), f"HTTP {status} with an empty body"


def test_no_hostile_request_left_a_file_outside_storage(srv: DevServer) -> None:
    for _, method, target, body, headers in SHAPES:
        if target.startswith("{signed:"):
            target = _signed(srv, target[len("{signed:") : -1])
        _request(srv, method, target, body, headers)
    outside = {p.name for p in srv.data_dir.iterdir()}
    assert outside <= {"devserver.db", "devserver.db-wal", "devserver.db-shm", "upload-secret", "storage", "logs"}
    assert (srv.data_dir / "upload-secret").stat().st_size == 32  # never overwritten by an upload


@pytest.mark.parametrize(("filename", "says"), [("f" * 300, "longer than 255 bytes"), ("f/" * 2000, "at most 1024")])
def test_a_long_file_name_is_refused_by_create_upload_location_over_grpc(
    srv: DevServer, filename: str, says: str
) -> None:
    with grpc.insecure_channel(srv.endpoint) as ch:
        stub = dp_grpc.DataProxyServiceStub(ch)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateUploadLocation(
                dp.CreateUploadLocationRequest(project="flytesnacks", domain="development", filename=filename),
                timeout=10,
            )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in (err.value.details() or "")


def test_a_traversal_file_name_stays_inside_storage(srv: DevServer) -> None:
    with grpc.insecure_channel(srv.endpoint) as ch:
        stub = dp_grpc.DataProxyServiceStub(ch)  # type: ignore[no-untyped-call]
        loc = stub.CreateUploadLocation(
            dp.CreateUploadLocationRequest(project="flytesnacks", filename="../../../../upload-secret"), timeout=10
        )
    stored = Path(loc.native_url.removeprefix("file://"))
    assert stored.is_relative_to((srv.data_dir / "storage").resolve())
    status, answer = _request(srv, "PUT", loc.signed_url.split(srv.endpoint, 1)[1], b"overwrite?")
    assert status == 200, answer
    assert stored.read_bytes() == b"overwrite?" and (srv.data_dir / "upload-secret").stat().st_size == 32
