"""hypercorn serving one ASGI app on a bound socket, in a background thread with its own loop.

One port for gRPC (HTTP/2 prior knowledge, or TLS with ALPN h2) and Connect (HTTP/1.1).
:meth:`ServeThread.start` returns when the app has answered the lifespan startup;
:meth:`ServeThread.stop` ends the streams, stops serving and joins; :meth:`ServeThread.call`
runs a function on the loop from any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("flyte_remote_core.devserver")

T = TypeVar("T")
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
READY_TIMEOUT_S = 60.0


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class ServeThread:
    def __init__(
        self,
        sock: socket.socket,
        *,
        tls: tuple[str, str] | None,
        max_concurrent_streams: int,
        before_serve: Callable[[], None],
        after_serve: Callable[[], Awaitable[None]],
        on_shutdown: Callable[[], object],
    ) -> None:
        """``before_serve``/``after_serve`` run on the loop around serving; ``on_shutdown`` when stop begins."""
        self._sock: socket.socket | None = sock
        self._tls = tls
        self._max_streams = max_concurrent_streams
        self._before_serve = before_serve
        self._after_serve = after_serve
        self._on_shutdown = on_shutdown  # its result (e.g. how many streams it dropped) is not used
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._shutdown: asyncio.Event | None = None
        self._stopping = False

    def mark_ready(self) -> None:
        """The app calls this at its lifespan startup: the port accepts calls."""
        self._ready.set()

    def start(self, app: ASGIApp) -> None:
        """Serve ``app``; returns when ready, raises RuntimeError when it does not get there."""
        self._thread = threading.Thread(target=self._main, args=(app,), name="flyte-devserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("devserver did not become ready within 60 s")
        if self._error is not None:
            raise RuntimeError(f"devserver failed to start: {self._error}") from self._error

    def stop(self) -> None:
        """End the streams and stop serving; idempotent, and safe after a failed start."""
        self._stopping = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._begin_shutdown)
            thread.join(30)
        self._thread = None
        if self._sock is not None:  # never served: nobody else closes it
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and return its result (thread-safe)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the devserver is not running")
        if threading.current_thread() is self._thread:
            return fn(*args)
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as e:
                fut.set_exception(e)

        loop.call_soon_threadsafe(run)
        return fut.result(30)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the loop; its result comes as a concurrent future."""
        if self._loop is None:
            raise RuntimeError("the devserver is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # ------------------------------------------------------------------ the thread
    def _begin_shutdown(self) -> None:
        self._on_shutdown()
        if self._shutdown is not None:
            self._shutdown.set()

    def _main(self, app: ASGIApp) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._loop_exception)
        try:
            loop.run_until_complete(self._serve(app))
        except BaseException as e:
            if not self._ready.is_set():
                self._error = e
            elif self._stopping and isinstance(e, ssl.SSLError):
                # hypercorn's TLS close can trip over a client that is still talking; we are
                # stopping anyway, so this is not an error worth a traceback.
                log.debug("TLS connection closed untidily at stop: %s", e)
            else:
                log.exception("devserver stopped with an error")
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # At stop, hypercorn's TLS connections to clients that are still talking end with
        # SSL errors in asyncio's callbacks: expected then, and not worth a traceback.
        if self._stopping and isinstance(context.get("exception"), ssl.SSLError):
            log.debug("TLS connection closed untidily at stop: %s", context.get("exception"))
            return
        loop.default_exception_handler(context)

    async def _serve(self, app: ASGIApp) -> None:
        from hypercorn.config import Config, Sockets
        from hypercorn.utils import wrap_app

        from .connections import serve

        self._shutdown = asyncio.Event()
        config = Config()
        config.h2_max_concurrent_streams = self._max_streams
        config.graceful_timeout = 1.0
        config.accesslog = None
        config.errorlog = logging.getLogger("flyte_remote_core.devserver.hypercorn")
        config.keep_alive_timeout = 75
        # hypercorn closes an HTTP/2 connection after 1,000 requests by default; a long-lived
        # gRPC channel sends far more, and clients racing the GOAWAY then see PROTOCOL_ERROR.
        # Go servers (the real backend) have no such limit.
        config.keep_alive_max_requests = 2**62
        config.include_server_header = False
        assert self._sock is not None
        if self._tls is not None:
            config.certfile, config.keyfile = self._tls
            sockets = Sockets([self._sock], [], [])
        else:
            sockets = Sockets([], [self._sock], [])
        # hypercorn types ASGI scopes and events as TypedDicts; the apps here take plain dicts.
        framework: Any = app
        self._before_serve()
        try:
            await serve(wrap_app(framework, config.wsgi_max_body_size, "asgi"), config,
                        sockets=sockets, shutdown_trigger=self._shutdown.wait)  # fmt: skip
        finally:
            self._sock = None  # hypercorn closed it
            await self._after_serve()
