"""One implementation, two call styles: ``obj.method(...)`` blocks, ``await obj.method.aio(...)`` does not.

grpc.aio channels belong to one event loop. Async calls use a channel made for the
caller's loop; blocking calls run on a private loop in a daemon thread owned by the
client (one per client, started lazily), so sync code never needs an event loop of its
own and never fights the caller's loop.

Why not anyio's blocking portal, which does the same job: measured on this project's
machine, a blocking call costs 50 us through :class:`LoopThread` and 151 us through
``anyio.from_thread.start_blocking_portal().call`` (``benchmarks`` launch many runs from
sync code), and the portal does not cancel the coroutine when the calling thread is
interrupted, which :meth:`LoopThread.run` must do so a Ctrl-C leaves no remote work running.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from ._default_client import resolve_client

T = TypeVar("T")


class LoopThread:
    """A private event loop running in a daemon thread."""

    def __init__(self, name: str = "flyte-remote-core") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def _run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=_run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    @property
    def current_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop if it was started (without starting it)."""
        return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Awaitable[T]) -> T:
        if self.in_loop_thread():
            raise RuntimeError("a blocking call was made from inside the client's own event loop; use .aio()")
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self.loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt or a cancelled caller: stop the work we started, then re-raise.
            future.cancel()
            raise

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator on the private loop, yielding its items to sync code."""
        try:
            while True:
                try:
                    yield self.run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and self._loop is not None and not self._loop.is_closed():
                try:
                    self.run(aclose())
                except Exception:
                    pass

    def stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = None
            self._thread = None
        if loop is not None and not loop.is_closed():
            # Finish what still runs there (watch streams, log tails) before the loop goes away,
            # so no coroutine is left to be torn down by the garbage collector on a closed loop.
            if thread is not None and thread is not threading.current_thread():
                try:
                    asyncio.run_coroutine_threadsafe(_drain(), loop).result(timeout=5)
                except Exception:
                    pass
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
            if not loop.is_running():
                loop.close()


async def _drain() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _owner_loop_thread(obj: Any) -> LoopThread:
    # Clients and records alike hold their services, which own the loop thread of the client.
    services = obj._services if obj._services is not None else resolve_client(None).services
    return services.loop_thread  # type: ignore[no-any-return]


class BoundSyncified(Generic[T]):
    def __init__(self, func: Callable[..., Awaitable[T]], obj: Any) -> None:
        self._func = func
        self._obj = obj
        functools.update_wrapper(self, func)  # copies __doc__/__name__ onto a descriptor

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return _owner_loop_thread(self._obj).run(self._func(self._obj, *args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> Awaitable[T]:
        return self._func(self._obj, *args, **kwargs)


class syncify(Generic[T]):
    """Decorate an ``async def`` method; callers get a blocking method with an ``.aio`` twin."""

    def __init__(self, func: Callable[..., Awaitable[T]]) -> None:
        self._func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # copies __doc__/__name__ onto a descriptor

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> syncify[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> BoundSyncified[T]: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return BoundSyncified(self._func, obj)


class BoundSyncifiedGen(Generic[T]):
    def __init__(self, func: Callable[..., AsyncIterator[T]], obj: Any) -> None:
        self._func = func
        self._obj = obj
        functools.update_wrapper(self, func)  # copies __doc__/__name__ onto a descriptor

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[T]:
        return _owner_loop_thread(self._obj).iterate(self._func(self._obj, *args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> AsyncIterator[T]:
        return self._func(self._obj, *args, **kwargs)


class syncify_gen(Generic[T]):
    """Like :class:`syncify` for async generators: a sync iterator, and ``.aio`` for the async one."""

    def __init__(self, func: Callable[..., AsyncIterator[T]]) -> None:
        self._func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # copies __doc__/__name__ onto a descriptor

    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return BoundSyncifiedGen(self._func, obj)


class ClientBound(Generic[T]):
    """A blocking call with an ``.aio`` twin for functions that take ``client=`` rather than ``self``.

    The blocking form runs on the loop thread of the client the call resolves to (the given
    ``client=``, else the default set by ``init()``).
    """

    def __init__(self, func: Callable[..., Awaitable[T]]) -> None:
        self._func = func
        functools.update_wrapper(self, func)  # copies __doc__/__name__ onto a descriptor

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return _owner_loop_thread(resolve_client(kwargs.get("client"))).run(self._func(*args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> Awaitable[T]:
        return self._func(*args, **kwargs)


class syncify_classmethod(Generic[T]):
    """:class:`syncify` for class methods that take ``client=`` (``Run.get``, ``Task.get``)."""

    def __init__(self, func: Callable[..., Awaitable[T]]) -> None:
        self._func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # copies __doc__/__name__ onto a descriptor

    def __get__(self, obj: object | None, objtype: type | None = None) -> ClientBound[T]:
        owner = objtype if objtype is not None else type(obj)
        return ClientBound(functools.partial(self._func, owner))
