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

Its HTTP/2 protocol (:class:`_H2Protocol`, put in place at a connection's first write) changes
two things more:

* hypercorn queues every body chunk for a sending task of its own, which writes it on a later
  pass of the loop. A chunk with nothing queued before it that fits the stream's flow-control
  window and one frame (a run's end on WatchRuns, most answers) is written at once; anything
  else takes hypercorn's queue as before, so order and flow control hold. Measured on a 2-core
  machine: a watcher is told a run's end about 60 µs sooner, and a client launching runs one
  after another gets 20 % more per second. HTTP/1.1 (Connect) already wrote at once.
* when the connection closes, what waits on its queues is released. hypercorn leaves them to
  its sender, which has stopped: a stream whose client stopped reading (its window full) and
  then died waited for ever at its end, and kept its connection open until the server stopped.

And once the socket is closing (the client went away mid-write), a write is dropped rather than
handed to asyncio, which would log ``socket.send() raised exception.`` for each one past the
fifth.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import h2.exceptions
from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config, Sockets
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol.events import Body, Data
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h2 import H2Protocol


class _H2Protocol(H2Protocol):
    """hypercorn's HTTP/2 protocol, writing a body chunk at once when nothing is queued before it,
    and releasing what waits on a queue when the connection closes (see the module)."""

    async def handle(self, event: Event) -> None:
        await super().handle(event)
        if isinstance(event, Closed):
            for queued in list(self.stream_buffers.values()):
                await queued.close()

    async def stream_send(self, event: StreamEvent) -> None:
        if isinstance(event, (Body, Data)) and self._fits_now(event.stream_id, event.data):
            try:
                self.connection.send_data(event.stream_id, event.data)
            except (KeyError, h2.exceptions.ProtocolError):
                return  # the stream or connection has closed: as hypercorn, nothing to send
            # Mark the queue empty, as hypercorn's sender does once it has written what was
            # queued: the stream's end waits for that (a stream whose client has gone would
            # otherwise wait for ever, and its connection with it).
            await self.stream_buffers[event.stream_id].pop(0)
            await self._flush()
            return
        await super().stream_send(event)

    def _fits_now(self, stream_id: int, data: bytes) -> bool:
        """Nothing is queued before ``data``, and it fits the stream's window and one frame."""
        queued = self.stream_buffers.get(stream_id)
        if not data or queued is None or queued.buffer or queued.complete:
            return False
        try:
            window = self.connection.local_flow_control_window(stream_id)
        except (KeyError, h2.exceptions.ProtocolError):
            return False  # closed: hypercorn's own path deals with it
        return len(data) <= min(window, self.connection.max_outbound_frame_size)


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
        if isinstance(event, RawData):
            protocol = self.protocol.protocol
            if type(protocol) is H2Protocol:
                # hypercorn makes its HTTP/2 protocol itself (on ALPN h2, or when a request
                # starts with the h2c preface); its first write comes here, before any stream.
                protocol.__class__ = _H2Protocol
            if self.writer.transport.is_closing():
                # The client went away: the bytes have nowhere to go. The protocol is told, as
                # hypercorn tells it when a write fails.
                await self.protocol.handle(Closed())
                return
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
