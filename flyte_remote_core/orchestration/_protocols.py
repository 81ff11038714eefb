"""What orchestration needs from a client and its records, as typing protocols.

Orchestration sits above the client: the client's orchestration entry points call into
this package, so this package must not import the client (nor the records, which refer
back to it). It names the few attributes it uses instead; ``FlyteClient``, ``Run`` and
``Task`` have them all. Every I/O method has the client's two call styles: call it to
block, ``await method.aio(...)`` from async code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, Protocol, TypeVar

from .._phases import Phase

T_co = TypeVar("T_co", covariant=True)


class Call(Protocol[T_co]):
    """A method with a blocking form (``m(...)``) and an awaitable one (``await m.aio(...)``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> T_co: ...

    def aio(self, *args: Any, **kwargs: Any) -> Awaitable[T_co]: ...


class Stream(Protocol[T_co]):
    """A streaming method: ``async for item in m.aio(...)``."""

    def aio(self, *args: Any, **kwargs: Any) -> AsyncIterator[T_co]: ...


class OutputsLike(Protocol):
    """A run's outputs: Python values by name, and their JSON-safe form."""

    @property
    def named(self) -> dict[str, Any]: ...

    def to_dict(self) -> dict[str, Any]: ...


class TaskLike(Protocol):
    """A deployed task: its identity, and the check that turns Python values into its inputs."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def project(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def interface(self) -> Any: ...

    def to_inputs(self, values: Mapping[str, Any] | None) -> Any: ...


class RunLike(Protocol):
    """A run as orchestration watches it."""

    @property
    def name(self) -> str: ...

    @property
    def project(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def phase(self) -> Phase: ...

    @property
    def attempts(self) -> int: ...

    @property
    def task_name(self) -> str | None: ...

    def done(self) -> bool: ...

    @property
    def wait(self) -> Call[Any]: ...

    @property
    def outputs(self) -> Call[OutputsLike]: ...

    @property
    def abort(self) -> Call[None]: ...

    @property
    def logs(self) -> Stream[str]: ...


class Closable(Protocol):
    """What owning a client takes: closing it from blocking code, or from its event loop."""

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


class ClientLike(Closable, Protocol):
    """The client calls orchestration makes: look a task or run up, create a run, close."""

    @property
    def get_task(self) -> Call[TaskLike]: ...

    @property
    def get_run(self) -> Call[RunLike]: ...

    @property
    def create_run(self) -> Call[RunLike]: ...
