"""DevServer: the embedded local Flyte 2 backend (lifecycle and wiring).

hypercorn serves one ASGI router in a background thread with its own event loop,
on one port: gRPC (HTTP/2 prior knowledge, or TLS with ALPN h2) and Connect
(HTTP/1.1). ``start()`` returns when the port accepts calls; ``stop()`` is clean
and idempotent; a failed start cleans up after itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("flyte_remote_core.devserver")

DUPLICATE_MODES = ("return-existing", "already-exists")
HYPERCORN_STREAM_CEILING = 1000  # hypercorn kills the connection past this (TooManyStreamsError)
MAX_STREAMS_LIMIT = 900


def default_data_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("flyte-devserver", appauthor=False))
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        return Path(base) / "flyte-devserver"


class DevServer:
    """An embedded Flyte 2 backend speaking the real wire protocol.

    ::

        with DevServer(tasks=["examples.tasks"], port=0, data_dir=tmp) as server:
            server.endpoint      # "127.0.0.1:PORT"
            server.admin         # test control (hold runs, inject faults, drop streams, counters)
            server.client()      # FlyteClient(endpoint, insecure=True, project="flytesnacks", domain="development")

    ``tasks``: module names, modules or plain functions; every public top-level
    function of a module becomes a task ``<last module component>.<function>``,
    deployed in ``project`` for every domain at start-up.
    """

    def __init__(
        self,
        tasks: Iterable[Any] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike | None = None,
        project: str | None = None,
        domain: str = "development",
        auth: bool = False,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
        duplicate_run_names: str = "return-existing",
        max_concurrent_streams: int = 250,
        workers: int = 2,
    ) -> None:
        if duplicate_run_names not in DUPLICATE_MODES:
            raise ValueError(f"duplicate_run_names must be one of {DUPLICATE_MODES}, got {duplicate_run_names!r}")
        if not 1 <= int(max_concurrent_streams) <= MAX_STREAMS_LIMIT:
            raise ValueError(
                f"max_concurrent_streams must be between 1 and {MAX_STREAMS_LIMIT} (hypercorn drops a whole "
                f"connection at {HYPERCORN_STREAM_CEILING} streams), got {max_concurrent_streams}"
            )
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self.tasks = list(tasks)
        self.host = host
        self.port = int(port)
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.project = project or "flytesnacks"
        self.domain = domain
        self.auth = bool(auth)
        self.tls_cert = str(tls_cert) if tls_cert else None
        self.tls_key = str(tls_key) if tls_key else None
        self.duplicate_run_names = duplicate_run_names
        self.max_concurrent_streams = int(max_concurrent_streams)
        self.workers = workers
        self.startup_seconds: float | None = None
        self.local_tasks: list = []
        self.auth_manager = None
        self._store = None
        self._engine = None
        self._hub = None
        self._control = None
        self._scheduler = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._shutdown: asyncio.Event | None = None
        self._state = "new"  # new -> running -> stopped
        self._lock = threading.Lock()
        from ._admin import AdminHandle

        self.admin = AdminHandle(self)

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    @property
    def running(self) -> bool:
        return self._state == "running"

    def client(self, **kwargs):
        """A :class:`flyte_remote_core.FlyteClient` for this server (the caller closes it)."""
        from flyte_remote_core._client import FlyteClient

        kwargs.setdefault("insecure", not self.tls)
        kwargs.setdefault("project", self.project)
        kwargs.setdefault("domain", self.domain)
        if self.tls and "ca_cert_file_path" not in kwargs and "insecure_skip_verify" not in kwargs:
            kwargs["ca_cert_file_path"] = str(self.tls_cert)  # a self-signed certificate is its own CA
        if self.auth_manager is not None and not any(k in kwargs for k in ("api_key", "client_id", "token")):
            # With --auth, a ready client authenticates like a user would: client credentials.
            client_id, client_secret = self.auth_manager.create_client("devserver-client")
            kwargs.update(client_id=client_id, client_secret=client_secret)
        return FlyteClient(self.endpoint, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> DevServer:
        with self._lock:
            if self._state == "running":
                return self
            if self._state == "stopped":
                raise RuntimeError("a stopped DevServer cannot be restarted; create a new one")
            t0 = time.perf_counter()
            try:
                self._prepare()
                self._thread = threading.Thread(target=self._thread_main, name="flyte-devserver", daemon=True)
                self._thread.start()
                if not self._ready.wait(60):
                    raise RuntimeError("devserver did not become ready within 60 s")
                if self._error is not None:
                    raise RuntimeError(f"devserver failed to start: {self._error}") from self._error
            except BaseException:
                self._teardown()
                self._state = "stopped"
                raise
            self._state = "running"
            self.startup_seconds = time.perf_counter() - t0
            log.info("devserver ready on %s in %.3f s (data in %s)", self.endpoint, self.startup_seconds, self.data_dir)
            return self

    def stop(self) -> None:
        with self._lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
            self._teardown()

    def _teardown(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._begin_shutdown)
            except RuntimeError:
                pass
            thread.join(30)
        self._thread = None
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _begin_shutdown(self) -> None:
        if self._hub is not None:
            self._hub.drop_all("the devserver is shutting down")
        if self._shutdown is not None:
            self._shutdown.set()

    # ------------------------------------------------------------------ wiring
    def _prepare(self) -> None:
        from ._control import Control
        from ._engine import Engine, RunControl
        from ._events import Hub
        from ._store import Store

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._store = Store(self.data_dir / "devserver.db")
        self._hub = Hub()
        self._control = Control()
        self._engine = Engine(
            self._store, self._hub, self.data_dir,
            duplicate_run_names=self.duplicate_run_names, control=RunControl(), workers=self.workers,
        )
        self._engine.seed_projects(self.project)
        recovered = self._engine.recover_after_restart()
        if recovered:
            log.warning("devserver: %d action(s) left unfinished by a previous process were marked FAILED", recovered)
        self._register_tasks()

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(1024)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]

    def _register_tasks(self) -> None:
        if not self.tasks:
            return
        import types

        from flyteidl2.task import task_definition_pb2

        from ._tasks import discover_tasks, task_from_function

        found = []
        for item in self.tasks:
            if isinstance(item, (str, types.ModuleType)):
                found.extend(discover_tasks([item]))
            elif callable(item):
                found.append(task_from_function(item))
            else:
                raise TypeError(f"tasks: expected module names, modules or functions, got {item!r}")
        proj = self._engine.get_project(self.project)
        domains = [d.id for d in proj.domains] if proj is not None else [self.domain]
        for lt in found:
            self._engine.registry[(lt.name, lt.version)] = lt
            self._engine.registry[(lt.name, None)] = lt
            for dom in domains:
                tid = task_definition_pb2.TaskIdentifier(project=self.project, domain=dom, name=lt.name, version=lt.version)
                self._engine.deploy_task(tid, lt.spec, module=lt.module, function=lt.function)
        self.local_tasks = found

    def _build_app(self):
        from ._wiring import build_app

        return build_app(self)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._loop_exception)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:
            if not self._ready.is_set():
                self._error = e
            elif self._state == "stopped" and isinstance(e, ssl.SSLError):
                # hypercorn's TLS close can trip over a client that is still talking; we are
                # stopping anyway, so this is not an error worth a traceback.
                log.debug("TLS connection closed untidily at stop: %s", e)
            else:
                log.exception("devserver stopped with an error")
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            except Exception:
                pass
            loop.close()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # At stop, hypercorn's TLS connections to clients that are still talking end with
        # SSL errors in asyncio's callbacks: expected then, and not worth a traceback.
        if self._state == "stopped" and isinstance(context.get("exception"), ssl.SSLError):
            log.debug("TLS connection closed untidily at stop: %s", context.get("exception"))
            return
        loop.default_exception_handler(context)

    async def _serve(self) -> None:
        from hypercorn.asyncio.run import worker_serve
        from hypercorn.config import Config, Sockets
        from hypercorn.utils import wrap_app

        self._shutdown = asyncio.Event()
        app = self._build_app()
        config = Config()
        config.h2_max_concurrent_streams = self.max_concurrent_streams
        config.graceful_timeout = 1.0
        config.accesslog = None
        config.errorlog = logging.getLogger("flyte_remote_core.devserver.hypercorn")
        config.keep_alive_timeout = 75
        # hypercorn closes an HTTP/2 connection after 1,000 requests by default; a long-lived
        # gRPC channel sends far more, and clients racing the GOAWAY then see PROTOCOL_ERROR.
        # Go servers (the real backend) have no such limit.
        config.keep_alive_max_requests = 2**62
        config.include_server_header = False
        if self.tls:
            config.certfile = self.tls_cert
            config.keyfile = self.tls_key
            sockets = Sockets([self._sock], [], [])
        else:
            sockets = Sockets([], [self._sock], [])
        self._engine.start_executor()
        self._scheduler.start()
        try:
            await worker_serve(wrap_app(app, config.wsgi_max_body_size, "asgi"), config,
                               sockets=sockets, shutdown_trigger=self._shutdown.wait)
        finally:
            self._sock = None  # hypercorn closed it
            await self._scheduler.stop()
            await self._engine.stop()

    def _call_in_loop(self, fn, *args):
        """Run ``fn(*args)`` on the server's loop and return its result (thread-safe)."""
        if not self.running or self._loop is None:
            raise RuntimeError("the devserver is not running")
        if threading.current_thread() is self._thread:
            return fn(*args)
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as e:
                fut.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        return fut.result(30)
