"""Connections whose client has gone are closed at once, not after the keep-alive timeout."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import h2.config
import h2.connection
from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.workflow import run_service_pb2, run_service_pb2_grpc

from flyte_remote_core import FlyteClient
from flyte_remote_core.devserver import DevServer
from tests.waiting import wait_until

from ..conftest import SAMPLE_TASKS

WATCH_RUNS = "/flyteidl2.workflow.RunService/WatchRuns"

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


def _wait_until_no_server_socket(port: int) -> None:
    wait_until(
        lambda: _server_sockets(port) == 0,
        lambda: f"every server socket closed ({_server_sockets(port)} open)",
        timeout=5.0,
    )


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
        _wait_until_no_server_socket(port)
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
        _wait_until_no_server_socket(port)


def _held_runs(server: DevServer, n: int) -> list[str]:
    """``n`` runs of sample_tasks.add, kept RUNNING until released."""
    server.admin.hold(all_new_runs=True)

    async def launch() -> list[str]:
        async with FlyteClient(server.endpoint, insecure=True) as client:
            task = await client.get_task.aio("sample_tasks.add")
            return [str((await client.run.aio(task, {"x": i, "y": 1})).name) for i in range(n)]

    names = asyncio.run(launch())
    wait_until(lambda: server.admin.status()["jobs_in_flight"] == 0, "the held runs' tasks done", timeout=60.0)
    return names


def _stalled_watch(endpoint: str) -> socket.socket:
    """An HTTP/2 connection (the h2 library as the client) with a WatchRuns stream that reads no
    more than its first bytes, so the server soon has more to send than the client's window."""
    host, port = endpoint.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    request = run_service_pb2.WatchRunsRequest(
        project_id=identifier_pb2.ProjectIdentifier(name="flytesnacks", domain="development")
    ).SerializeToString()
    conn.send_headers(1, [
        (":method", "POST"), (":scheme", "http"), (":authority", endpoint), (":path", WATCH_RUNS),
        ("content-type", "application/grpc"), ("te", "trailers"),
    ])  # fmt: skip
    conn.send_data(1, b"\x00" + struct.pack(">I", len(request)) + request, end_stream=True)
    sock.sendall(conn.data_to_send())
    sock.settimeout(10)
    assert sock.recv(65536)  # the server's settings and the stream's first message
    return sock


def test_a_client_that_dies_with_its_window_full_leaves_no_connection_behind(tmp_path, caplog):
    """A watch whose client stopped reading waits for flow control; when that client dies (reset),
    the stream and its connection end at once, not when the server stops."""
    with DevServer(tasks=[SAMPLE_TASKS], port=0, data_dir=tmp_path) as server:
        port = int(server.endpoint.rsplit(":", 1)[1])
        names = _held_runs(server, 800)  # 8 WatchRuns messages of 100 runs (18 KB each): over a 64 KB window
        socks = [_stalled_watch(server.endpoint) for _ in range(2)]
        wait_until(lambda: server.admin.status()["open_streams"] == 2, "two open streams", timeout=5.0)
        server.admin.release(*names)
        time.sleep(0.5)  # the server has filled the windows and waits for the clients
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset, as when a process dies with unread data
        _wait_until_no_server_socket(port)
        wait_until(lambda: server.admin.status()["open_streams"] == 0, "no open stream", timeout=5.0)
    # Connections still open at stop would be cancelled there, which asyncio logs as an error;
    # writes to a reset socket would make asyncio warn "socket.send() raised exception."
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_stream_messages_small_and_large_arrive_whole_and_in_order(tmp_path):
    """Small messages go out at once, large ones (over a frame, or the window) through hypercorn's
    queue; a client that reads late still gets every message, in the order they were sent."""
    with DevServer(tasks=[SAMPLE_TASKS], port=0, data_dir=tmp_path) as server:
        names = _held_runs(server, 220)
        one_by_one, burst = names[:20], names[20:]

        async def main() -> list[tuple[str, int]]:
            async with grpc.aio.insecure_channel(server.endpoint) as channel:
                stub = run_service_pb2_grpc.RunServiceStub(channel)
                call = stub.WatchRuns(run_service_pb2.WatchRunsRequest(
                    project_id=identifier_pb2.ProjectIdentifier(name="flytesnacks", domain="development")
                ))  # fmt: skip
                first = await call.read()  # the newest 100 runs: one message of about 18 KB
                assert len(first.runs) == 100 and {r.action.id.run.name for r in first.runs} <= set(names)
                assert len(first.SerializeToString()) > 2**14  # more than one HTTP/2 frame
                for name in one_by_one:  # one small message each, none read yet
                    server.admin.release(name)
                    await asyncio.sleep(0.02)
                server.admin.release(*burst)  # messages of 100 runs, over a frame each
                # A large answer on the same connection while the stream's messages wait unread.
                listed = await stub.ListRuns(run_service_pb2.ListRunsRequest(
                    project_id=identifier_pb2.ProjectIdentifier(name="flytesnacks", domain="development"),
                    request=list_pb2.ListRequest(limit=200),
                ), timeout=30)  # fmt: skip
                assert len(listed.runs) == 200 and {r.action.id.run.name for r in listed.runs} <= set(names)
                told: list[tuple[str, int]] = []
                while len({n for n, p in told if p == 5}) < len(names):
                    message = await asyncio.wait_for(call.read(), 30)
                    told += [(r.action.id.run.name, r.action.status.phase) for r in message.runs]
                call.cancel()
                return told

        told = asyncio.run(main())
        ended = [name for name, phase in told if phase == 5]  # SUCCEEDED
        assert sorted(ended) == sorted(names)  # each end told once
        assert ended[: len(one_by_one)] == one_by_one
