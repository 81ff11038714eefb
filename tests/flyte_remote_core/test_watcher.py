"""The shared watcher: many waits over few streams, and faults caused for real."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from flyte_remote_core import FlyteClient, Phase, RunFailedError
from tests.waiting import wait_until, wait_until_async

pytestmark = pytest.mark.timeout(120)


def _open_streams(server) -> int:
    """Server-streaming calls (WatchRuns, WatchActionDetails, ...) open on the devserver right now."""
    return int(server.admin.status()["open_streams"])


def _await_redial(port: int, timeout: float = 30.0) -> None:
    """With the backend down, listen on its port until the client dials it again, then hang up.

    Proves the client noticed the outage and is reconnecting, instead of sleeping and hoping so.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        listener.settimeout(timeout)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            raise AssertionError(f"the client did not redial port {port} within {timeout} s") from None
        conn.close()


@pytest.fixture
def small_server(tmp_path):
    """A devserver that allows only 20 concurrent streams per connection."""
    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path, max_concurrent_streams=20) as srv:
        yield srv


def test_many_waits_share_one_stream_past_the_stream_limit(small_server) -> None:
    client: FlyteClient = small_server.client()
    n = 150  # far more than the 20-stream limit
    try:
        small_server.admin.hold(all_new_runs=True)

        async def main() -> list[Phase]:
            runs = await asyncio.gather(*(client.run.aio("sample_tasks.add", {"x": i, "y": 1}) for i in range(n)))
            small_server.admin.reset_counters()
            waits = [asyncio.ensure_future(r.wait.aio(quiet=True, timeout=60)) for r in runs]
            await wait_until_async(lambda: _open_streams(small_server) >= 1, "the waits opening their watch stream")
            assert _open_streams(small_server) == 1, "150 waits in one project must share one stream"
            assert not any(w.done() for w in waits)  # every run is held: nothing can have ended
            released_at = time.monotonic()
            small_server.admin.release_all()
            done = await asyncio.gather(*waits)
            assert time.monotonic() - released_at < 30
            return [r.phase for r in done]

        phases = asyncio.run(main())
        assert phases == [Phase.SUCCEEDED] * n
        # Exactly one stream served all of them: zero would mean the waits never watched (or
        # polled), two or more that they did not share.
        assert small_server.admin.call_count("WatchRuns") == 1
        assert small_server.admin.call_count("WatchActionDetails") == 0
    finally:
        small_server.admin.release_all()
        client.close()


def test_dropped_streams_reconnect_and_miss_nothing(small_server) -> None:
    client = small_server.client()
    try:
        small_server.admin.hold(all_new_runs=True)
        runs = [client.run("sample_tasks.add", {"x": i, "y": 1}) for i in range(5)]

        async def main() -> list[Phase]:
            waits = [asyncio.ensure_future(r.wait.aio(quiet=True, timeout=30)) for r in runs]
            await wait_until_async(lambda: _open_streams(small_server) >= 1, "the waits opening their watch stream")
            small_server.admin.reset_counters()
            # Cut every open stream (the one the five waits share), and finish the runs while the
            # client is reconnecting.
            assert small_server.admin.drop_streams("test cut") == 1
            small_server.admin.release_all()
            done = await asyncio.gather(*waits)
            assert small_server.admin.call_count("WatchRuns") >= 1  # it reconnected
            return [r.phase for r in done]

        assert asyncio.run(main()) == [Phase.SUCCEEDED] * 5
    finally:
        small_server.admin.release_all()
        client.close()


def test_a_reconnect_re_read_that_fails_is_tried_again(small_server) -> None:
    """The run ends while the stream is down, the new stream's first batch does not hold it (100
    newer runs do), and the re-read after the reconnect fails past the unary retries: the wait must
    try the re-read again rather than stay blind until the periodic resync a minute later."""
    client = small_server.client()
    try:
        small_server.admin.hold(all_new_runs=True)
        watched = client.run("sample_tasks.add", {"x": 1, "y": 1})
        for i in range(100):  # newer runs fill the first batch of every WatchRuns stream
            client.run("sample_tasks.add", {"x": i, "y": 2})

        small_server.admin.reset_counters()

        async def main() -> Phase:
            wait = asyncio.ensure_future(watched.wait.aio(quiet=True, timeout=30))
            await wait_until_async(lambda: _open_streams(small_server) >= 1, "the wait opening its watch stream")
            await wait_until_async(
                lambda: small_server.admin.call_count("GetActionDetails") >= 1, "the wait's first read"
            )
            small_server.admin.fail_next("WatchRuns", "UNAVAILABLE", count=2)
            small_server.admin.fail_next("GetActionDetails", "UNAVAILABLE", count=6)  # unary retries: 5
            assert small_server.admin.drop_streams("test cut") == 1
            small_server.admin.release(watched.name)
            return (await wait).phase

        assert asyncio.run(main()) is Phase.SUCCEEDED
        assert small_server.admin.call_count("GetActionDetails") >= 7  # failed 6 times, then read
    finally:
        small_server.admin.clear_faults()
        small_server.admin.release_all()
        client.close()


def _wait_in_thread(run, *, timeout: float) -> tuple[threading.Thread, dict[str, object]]:
    """Start ``run.wait()`` in a thread; the dict gets ``run`` or ``error`` when it ends."""
    result: dict[str, object] = {}

    def waiter() -> None:
        try:
            result["run"] = run.wait(quiet=True, timeout=timeout)
        except BaseException as exc:  # reported by the test
            result["error"] = exc

    thread = threading.Thread(target=waiter)
    thread.start()
    return thread, result


def _assert_wait_ended_by_the_restart(run, thread: threading.Thread, result: dict[str, object]) -> None:
    """The wait returned (no error), and the restarted backend failed the run as a SYSTEM error."""
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    assert run.phase is Phase.FAILED
    with pytest.raises(RunFailedError) as err:
        run.outputs()
    assert err.value.kind == "SYSTEM"
    assert "restart" in err.value.message.lower()


def _restart_under_a_wait(tmp_path, *, while_down: Callable[[int], None], run_s: int, wait_s: float) -> float:
    """Stop the devserver under a waiting client, call ``while_down(port)``, start it again on the
    same port and data dir; assert the wait ended by the restart and return how long that took."""
    from flyte_remote_core.devserver import DevServer

    first = DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path)
    first.start()
    port = first.port
    client = first.client()
    try:
        run = client.run("sample_tasks.sleepy", {"seconds": run_s})
        # Unary polls, not a wait: no watch stream may be open before the waiting thread's.
        wait_until(lambda: run.sync().phase is Phase.RUNNING, "the run starting")
        assert _open_streams(first) == 0
        thread, result = _wait_in_thread(run, timeout=wait_s)
        wait_until(lambda: _open_streams(first) >= 1, "the wait opening its watch stream")
        first.stop()
        while_down(port)
        second = DevServer(tasks=["tests.devserver.sample_tasks"], port=port, data_dir=tmp_path)
        second.start()
        back_at = time.monotonic()
        try:
            thread.join(timeout=wait_s)
            noticed_after = time.monotonic() - back_at
            _assert_wait_ended_by_the_restart(run, thread, result)
            return noticed_after
        finally:
            second.stop()
    finally:
        client.close()
        first.stop()


def test_server_restart_during_wait_is_survived(tmp_path) -> None:
    """Kill the server under a waiting client, start it again on the same port and data dir."""
    _restart_under_a_wait(tmp_path, while_down=_await_redial, run_s=30, wait_s=60)


def test_a_long_outage_is_noticed_within_seconds_of_the_backend_coming_back(tmp_path) -> None:
    """After 27 s down, grpc-core's default reconnect backoff (1 s growing by 1.6x to 120 s) would
    leave the wait blind for another 16-19 s (measured); capped at 5 s, it notices within seconds."""
    noticed_after = _restart_under_a_wait(tmp_path, while_down=lambda _port: time.sleep(27), run_s=120, wait_s=120)
    assert noticed_after < 10, f"the wait noticed the restarted backend only after {noticed_after:.1f} s"


def test_backend_without_watch_runs_falls_back_to_one_stream_per_run(small_server) -> None:
    client = small_server.client()
    try:
        small_server.admin.fail_next("WatchRuns", "UNIMPLEMENTED", count=1000)
        runs = [client.run("sample_tasks.add", {"x": i, "y": 1}) for i in range(3)]

        async def main() -> list[Phase]:
            done = await asyncio.gather(*(r.wait.aio(quiet=True, timeout=30) for r in runs))
            return [r.phase for r in done]

        assert asyncio.run(main()) == [Phase.SUCCEEDED] * 3
        assert small_server.admin.call_count("WatchActionDetails") >= 3
    finally:
        small_server.admin.clear_faults()
        client.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli_open_streams(port: int) -> int:
    """``_open_streams`` for a devserver in another process, over its admin API."""
    import grpc

    from flyte_remote_core.devserver.admin._pb import admin_pb2, admin_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        status = admin_pb2_grpc.AdminServiceStub(channel).GetStatus(admin_pb2.GetStatusRequest(), timeout=10)
    return int(status.open_streams)


def _start_cli(port: int, data_dir) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flyte_remote_core.devserver",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--tasks",
            "tests.devserver.sample_tasks",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:  # type: ignore[union-attr]
        if "ready" in line:
            return proc
    raise RuntimeError("the devserver did not start")


def test_a_killed_server_does_not_hang_a_wait(tmp_path) -> None:
    """SIGKILL the backend under a waiting client; the restarted backend fails the run, the wait ends."""
    import signal

    port = _free_port()
    first = _start_cli(port, tmp_path)
    client = FlyteClient(f"127.0.0.1:{port}", insecure=True)
    second = None
    try:
        run = client.run("sample_tasks.sleepy", {"seconds": 60})
        wait_until(lambda: run.sync().phase is Phase.RUNNING, "the run starting")
        assert _cli_open_streams(port) == 0
        thread, result = _wait_in_thread(run, timeout=90)
        wait_until(lambda: _cli_open_streams(port) >= 1, "the wait opening its watch stream")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        _await_redial(port)  # the client saw the connection die and is reconnecting
        second = _start_cli(port, tmp_path)
        _assert_wait_ended_by_the_restart(run, thread, result)
    finally:
        client.close()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
