"""DevServer: the embedded local Flyte 2 backend's lifecycle and accessors.

``start()`` assembles the parts (:mod:`.wiring`), binds the port and serves in a
background thread (:mod:`.thread`); it returns when the port accepts calls. ``stop()``
is clean and idempotent; a failed start cleans up after itself. Importing this module
is cheap: the wiring (hypercorn, connectrpc, every service) loads at the first start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ..admin.handle import AdminHandle
from .config import DEFAULT_MAX_UPLOAD_BYTES, ServerConfig, check_options, default_data_dir

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient

    from ..admin.ops import AdminOps
    from ..auth.manager import AuthManager
    from ..execution.registry import LocalTask
    from .thread import ServeThread
    from .wiring import Backend, Frontend

log = logging.getLogger("flyte_remote_core.devserver")

T = TypeVar("T")


class DevServer:
    """An embedded Flyte 2 backend speaking the real wire protocol.

    ::

        with DevServer(tasks=["examples.tasks"], port=0, data_dir=tmp) as server:
            server.endpoint      # "127.0.0.1:PORT"
            server.admin         # test control (hold runs, inject faults, drop streams, counters)
            server.client()      # FlyteClient(endpoint, insecure=True, project="flytesnacks", domain="development")

    ``tasks``: module names, modules or plain functions; every public top-level
    function of a module becomes a task ``<last module component>.<function>``,
    deployed in ``project`` for every domain at start-up. Tasks deployed with the official
    SDK run their deployed spec in ``sdk_python`` (the Python of the project's environment;
    default: this interpreter when it can import ``flyte``). ``max_upload_bytes`` bounds one
    signed-URL upload (larger ones get HTTP 413; default 5 GiB). The options are kept,
    checked, in :attr:`config`.
    """

    def __init__(
        self,
        tasks: Iterable[Any] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        project: str | None = None,
        domain: str = "development",
        auth: bool = False,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        duplicate_run_names: str = "return-existing",
        max_concurrent_streams: int = 250,
        workers: int = 2,
        sdk_python: str | os.PathLike[str] | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        check_options(duplicate_run_names, max_concurrent_streams, tls_cert, tls_key, max_upload_bytes)
        self.config = ServerConfig(
            tasks=tuple(tasks),
            host=host,
            port=int(port),
            data_dir=Path(data_dir) if data_dir is not None else default_data_dir(),
            project=project or "flytesnacks",
            domain=domain,
            auth=bool(auth),
            tls_cert=str(tls_cert) if tls_cert else None,
            tls_key=str(tls_key) if tls_key else None,
            duplicate_run_names=duplicate_run_names,
            max_concurrent_streams=int(max_concurrent_streams),
            workers=workers,
            sdk_python=os.fspath(sdk_python) if sdk_python else None,
            max_upload_bytes=max_upload_bytes,
        )
        self.port = self.config.port  # the bound port once started
        self.startup_seconds: float | None = None
        self.admin = AdminHandle(self._on_loop)
        self._backend: Backend | None = None
        self._frontend: Frontend | None = None
        self._thread: ServeThread | None = None
        self._state = "new"  # new -> running -> stopped
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ accessors
    @property
    def endpoint(self) -> str:
        return f"{self.config.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.config.tls else 'http'}://{self.endpoint}"

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def auth_manager(self) -> AuthManager | None:
        """With ``auth=True``, once started: issues clients, API keys and tokens."""
        return self._frontend.auth if self._frontend is not None else None

    @property
    def local_tasks(self) -> list[LocalTask]:
        """The tasks registered from ``tasks``, once started."""
        return list(self._backend.registry.tasks) if self._backend is not None else []

    def client(self, **kwargs: Any) -> FlyteClient:
        """A :class:`flyte_remote_core.FlyteClient` for this server (the caller closes it)."""
        from flyte_remote_core import FlyteClient

        tls = self.config.tls
        kwargs.setdefault("insecure", not tls)
        kwargs.setdefault("project", self.config.project)
        kwargs.setdefault("domain", self.config.domain)
        if tls and "ca_cert_file_path" not in kwargs and "insecure_skip_verify" not in kwargs:
            kwargs["ca_cert_file_path"] = str(self.config.tls_cert)  # a self-signed certificate is its own CA
        auth = self.auth_manager
        if auth is not None and not any(k in kwargs for k in ("api_key", "client_id", "token")):
            # With --auth, a ready client authenticates like a user would: client credentials.
            client_id, client_secret = auth.create_client("devserver-client")
            kwargs.update(client_id=client_id, client_secret=client_secret)
        return FlyteClient(self.endpoint, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> DevServer:
        with self._lock:
            if self._state == "running":
                return self
            if self._state == "stopped":
                raise RuntimeError("a stopped DevServer cannot be restarted; create a new one")
            t0 = time.perf_counter()
            try:
                self._start()
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

    def _start(self) -> None:
        # Imported here: the wiring pulls in hypercorn, connectrpc and every service.
        from .thread import ServeThread, listen
        from .wiring import assemble, build_frontend

        config = self.config
        backend = self._backend = assemble(config)
        sock = listen(config.host, config.port)
        self.port = sock.getsockname()[1]
        engine = backend.engine
        thread = self._thread = ServeThread(
            sock,
            tls=(config.tls_cert, config.tls_key) if config.tls_cert and config.tls_key else None,
            max_concurrent_streams=config.max_concurrent_streams,
            before_serve=engine.start,
            after_serve=engine.stop,
            on_shutdown=lambda: backend.hub.drop_all("the devserver is shutting down"),
        )
        self._frontend = build_frontend(
            backend, config, url=self.url, endpoint=self.endpoint, on_startup=thread.mark_ready
        )
        thread.start(self._frontend.router)

    def _teardown(self) -> None:
        if self._thread is not None:
            self._thread.stop()
        if self._backend is not None:
            self._backend.close()

    def _on_loop(self, fn: Callable[[AdminOps], T]) -> T:
        """Run ``fn(admin ops)`` on the server's loop (the admin handle's way in)."""
        thread, frontend = self._thread, self._frontend
        if not self.running or thread is None or frontend is None:
            raise RuntimeError("the devserver is not running")
        return thread.call(fn, frontend.admin)
