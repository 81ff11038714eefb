"""Connections whose client has gone are closed at once, not after the keep-alive timeout."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
from flyteidl2.common import identifier_pb2
from flyteidl2.workflow import run_service_pb2, run_service_pb2_grpc

from flyte_remote_core.devserver import DevServer

REPO = Path(__file__).resolve().parents[3]

# A client process that opens separate connections, half with a WatchRuns stream and half idle
# after a call, says so, and exits without closing anything (as a killed task process or
# ``os._exit`` does).
_CLIENT = textwrap.dedent(
    """
    import asyncio, os, sys
    import grpc
    from flyteidl2.common import identifier_pb2
    from flyteidl2.workflow import run_service_pb2, run_service_pb2_grpc

    async def main(endpoint, n):
        request = run_service_pb2.WatchRunsRequest(
            project_id=identifier_pb2.ProjectIdentifier(name="flytesnacks", domain="development"))
        kept = []
        for i in range(n):
            channel = grpc.aio.insecure_channel(endpoint, options=[("grpc.use_local_subchannel_pool", 1)])
            stub = run_service_pb2_grpc.RunServiceStub(channel)
            if i % 2:
                await stub.ListRuns(run_service_pb2.ListRunsRequest(project_id=request.project_id))
                kept.append(channel)
            else:
                call = stub.WatchRuns(request)
                await call.read()  # the stream is up
                kept.append((channel, call))
        print("streaming", flush=True)
        sys.stdin.readline()
        os._exit(0)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def _server_sockets(port: int) -> int:
    """Open TCP sockets whose local port is ``port``, the listening one excepted."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A":  # 0A: LISTEN
                count += 1
    return count


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_client_that_exits_leaves_no_connection_behind(tmp_path, caplog):
    with DevServer(port=0, data_dir=tmp_path) as server:
        port = int(server.endpoint.rsplit(":", 1)[1])
        client = subprocess.Popen(
            [sys.executable, "-c", _CLIENT, server.endpoint, "4"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        assert client.stdout is not None and client.stdin is not None
        assert client.stdout.readline().strip() == "streaming"
        assert _server_sockets(port) == 4  # one connection per channel
        assert server.admin.status()["open_streams"] == 2
        client.stdin.write("\n")
        client.stdin.flush()
        assert client.wait(timeout=30) == 0
        # The keep-alive timeout is 75 s: connections kept for it would still be open here.
        assert _wait_for(lambda: _server_sockets(port) == 0, timeout=5.0), _server_sockets(port)
        assert server.admin.status()["open_streams"] == 0  # the watches ended with their client
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a client leaving is no error

        # The server serves on, and an idle connection of a live client is kept.
        request = run_service_pb2.ListRunsRequest(
            project_id=identifier_pb2.ProjectIdentifier(name="flytesnacks", domain="development")
        )
        with grpc.insecure_channel(server.endpoint) as channel:
            stub = run_service_pb2_grpc.RunServiceStub(channel)
            stub.ListRuns(request, timeout=10)
            time.sleep(1.0)
            assert _server_sockets(port) == 1
            stub.ListRuns(request, timeout=10)
        assert _wait_for(lambda: _server_sockets(port) == 0, timeout=5.0)
