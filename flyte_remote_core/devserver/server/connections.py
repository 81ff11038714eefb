"""hypercorn's serving loop, with connections whose client has gone closed at once.

hypercorn (0.17, 0.18) arms a connection's keep-alive timer each time its last stream ends,
even when the stream ended because the client went away. An HTTP/2 client that exits without
closing its channel (a killed task process, an Airflow worker, a script ending with
``os._exit``) thus left its connection behind for the whole ``keep_alive_timeout``: 75 s here,
so that live idle channels are not cut. A benchmark whose client processes each opened 32
connections kept hundreds of dead ones, and with them (and the streams that never ended, see
:func:`.app.until_client_gone`) the devserver's full garbage collections grew from 40 ms to
over 400 ms.

:func:`serve` is hypercorn's ``worker_serve`` reduced to what the devserver uses (TCP sockets,
plain or TLS; lifespan; a shutdown trigger; the graceful timeout), with one change: once a
connection's reader has seen the end of its socket, no stream ending re-arms that timer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config, Sockets
from hypercorn.events import Event, Updated


class _Connection(TCPServer):
    """One client connection; ends as soon as its client has gone and its streams have ended."""

    _client_gone = False

    async def _read_data(self) -> None:
        await super()._read_data()  # returns at the socket's end (or a read error), streams closed
        self._client_gone = True
        await self.idle_task.stop()

    async def protocol_send(self, event: Event) -> None:
        if self._client_gone and isinstance(event, Updated):
            return  # no keep-alive for a connection whose client has gone
        await super().protocol_send(event)


async def serve(app: Any, config: Config, *, sockets: Sockets, shutdown_trigger: Callable[[], Awaitable[Any]]) -> None:
    """Serve ``app`` on ``sockets`` until ``shutdown_trigger`` returns, then close gracefully."""
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {}
    lifespan = Lifespan(app, config, loop, state)
    lifespan_task = loop.create_task(lifespan.handle_lifespan())
    await lifespan.wait_for_startup()
    if lifespan_task.done():
        error = lifespan_task.exception()
        if error is not None:
            raise error
    context = WorkerContext(None)
    connections: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        task.add_done_callback(connections.discard)
        await _Connection(app, loop, config, context, state, reader, writer)

    ssl = config.create_ssl_context() if config.ssl_enabled else None
    servers = [
        await asyncio.start_server(
            on_connection, sock=sock, backlog=config.backlog, ssl=ssl,
            ssl_handshake_timeout=config.ssl_handshake_timeout if ssl else None,
        )
        for sock in sockets.secure_sockets
    ]  # fmt: skip
    servers += [
        await asyncio.start_server(on_connection, sock=sock, backlog=config.backlog)
        for sock in sockets.insecure_sockets
    ]
    try:
        await shutdown_trigger()
    finally:
        await context.terminated.set()
        for server in servers:
            server.close()
            await server.wait_closed()
        gathered = asyncio.gather(*connections)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gathered, config.graceful_timeout)  # then cancelled
        finally:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                gathered.exception()  # retrieved, so asyncio does not warn about it
            await lifespan.wait_for_shutdown()
            lifespan_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lifespan_task
