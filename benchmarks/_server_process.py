"""A devserver in a process of its own, for benchmarks: controlled over a pipe.

A benchmark that ran the devserver in the harness's process would share a GIL with it: the
harness's pipe reads and admin calls would land in the server's timings. Here the server
process only serves, and answers ``(command, argument)`` messages between its calls:
``hold_all``, ``release`` (run names), ``release_all``, ``open_streams``, ``calls`` (a
method), ``settle`` (a timeout), ``stop``.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from benchmarks._common import settle

TASKS = "tests.devserver.sample_tasks"


def _serve(conn: Connection, workers: int, max_concurrent_streams: int) -> None:
    from flyte_remote_core.devserver import DevServer

    with (
        tempfile.TemporaryDirectory() as tmp,
        DevServer(
            tasks=[TASKS], port=0, data_dir=tmp, workers=workers, max_concurrent_streams=max_concurrent_streams
        ) as server,
    ):
        admin = server.admin
        conn.send(server.endpoint)
        answers = {
            "hold_all": lambda _: admin.hold(all_new_runs=True),
            "release": lambda names: admin.release(*names),
            "release_all": lambda _: admin.release_all(),
            "open_streams": lambda _: admin.status()["open_streams"],
            "calls": lambda method: admin.call_count(method),
            # Held runs' tasks still execute: wait until none does.
            "settle": lambda timeout: settle(admin, timeout),
        }
        while True:
            command, arg = conn.recv()
            if command == "stop":
                return
            conn.send(answers[command](arg))


class ServerProcess:
    """``with ServerProcess() as server: server.endpoint; server.ask("hold_all")``."""

    def __init__(self, *, workers: int = 2, max_concurrent_streams: int = 250) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(theirs, workers, max_concurrent_streams), daemon=True)
        self.endpoint = ""

    def __enter__(self) -> ServerProcess:
        self._proc.start()
        try:
            self.endpoint = self._conn.recv()
        except BaseException:
            self._proc.kill()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._conn.send(("stop", None))
        except OSError:
            pass
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()

    def ask(self, command: str, arg: Any = None) -> Any:
        self._conn.send((command, arg))
        return self._conn.recv()
