"""FlyteRunTrigger: wait for a Flyte run in the triggerer.

All triggers of one triggerer share, per connection and event loop, one FlyteClient
and the core's shared watcher (one ``WatchRuns`` stream per project), so hundreds of
deferred Flyte tasks never hit the server's per-connection stream limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from flyte_airflow._event import FlyteRunEvent

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient

_CLIENTS: dict[tuple[str, asyncio.AbstractEventLoop], list[Any]] = {}  # key -> [client, refcount]
_ON_KILL_TIMEOUT_S = 20.0


async def _acquire_client(flyte_conn_id: str, project: str | None, domain: str | None) -> tuple[tuple[str, Any], FlyteClient]:
    from flyte_airflow.hooks.flyte import FlyteHook, client_kwargs_from_connection

    hook = FlyteHook(flyte_conn_id)
    getter = getattr(FlyteHook, "aget_connection", None)
    conn = await getter(flyte_conn_id) if getter is not None else await asyncio.to_thread(FlyteHook.get_connection, flyte_conn_id)
    kwargs = client_kwargs_from_connection(conn)
    loop = asyncio.get_running_loop()
    for key in [k for k in _CLIENTS if k[1].is_closed()]:
        del _CLIENTS[key]
    key = (hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest(), loop)
    entry = _CLIENTS.get(key)
    if entry is None:
        entry = _CLIENTS[key] = [hook._client_from_kwargs(kwargs), 0]
    entry[1] += 1
    return key, entry[0]


async def _release_client(key: tuple[str, Any]) -> None:
    entry = _CLIENTS.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _CLIENTS[key]
        try:
            await entry[0].aclose()
        except Exception:  # closing is best effort
            pass


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.001, deadline - time.time())


async def await_event(
    client: FlyteClient,
    run_name: str,
    *,
    project: str | None,
    domain: str | None,
    deadline: float | None = None,
    wait_for: str = "terminal",
    fetch_outputs: bool = True,
    abort_on_deadline: bool = True,
) -> FlyteRunEvent:
    """Wait through the core (its shared watcher) and describe the outcome as an event.

    Never raises for a remote outcome: the core's result or error becomes the event the
    operator turns into an Airflow exception.
    """
    from flyte_remote_core import FlyteError

    try:
        run = await client.get_run.aio(run_name, project=project, domain=domain)
    except FlyteError as exc:
        return FlyteRunEvent(status="error", run_name=run_name, run_url=client.run_url(run_name, project=project, domain=domain),
                             project=project or client.project, domain=domain or client.domain, message=str(exc),
                             retryable=bool(getattr(exc, "retryable", False)))
    try:
        if wait_for == "running" and not run.done():
            await run.wait.aio(quiet=True, wait_for="running", timeout=_remaining(deadline))
            if not run.done():
                return FlyteRunEvent.for_run(run)
        if abort_on_deadline:  # the operator: the core waits, aborts at the deadline, reads the outputs
            result = await client.wait_for_result.aio(run, deadline=deadline)
        else:  # a sensor never touches the run it watches: bound the core's wait instead of giving it the deadline
            result = await asyncio.wait_for(client.wait_for_result.aio(run), _remaining(deadline))
    except TimeoutError as exc:  # the core's WaitTimeoutError, or asyncio's
        # The core aborted the run at the deadline and says whether the abort was accepted.
        aborted = getattr(exc, "aborted", None) if abort_on_deadline else None
        return FlyteRunEvent.deadline(run, aborted=aborted, last_phase=getattr(exc, "phase", None))
    except FlyteError as exc:
        return FlyteRunEvent.from_error(run, exc)
    event = FlyteRunEvent.from_result(result)
    return event if fetch_outputs else event.replace(outputs={})


class FlyteRunTrigger(BaseTrigger):
    """Fire once the run ``run_name`` ends (or, with ``wait_for="running"``, starts running).

    The event payload is a :class:`flyte_airflow._event.FlyteRunEvent` dict with the run's
    name, URL, phase, JSON-safe outputs (when ``fetch_outputs``) or error kind, code and
    message. Past ``deadline`` (epoch seconds) the run is aborted (``abort_on_deadline``)
    and a ``deadline`` event fires. When a user marks the deferred task failed or clears
    it, :meth:`on_kill` aborts the run if ``cancel_on_kill``.
    """

    def __init__(
        self,
        run_name: str,
        flyte_conn_id: str = "flyte_default",
        project: str | None = None,
        domain: str | None = None,
        deadline: float | None = None,
        wait_for: str = "terminal",
        fetch_outputs: bool = True,
        abort_on_deadline: bool = True,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        if wait_for not in ("terminal", "running"):
            raise ValueError(f"wait_for must be 'terminal' or 'running', got {wait_for!r}")
        self.run_name = run_name
        self.flyte_conn_id = flyte_conn_id
        self.project = project
        self.domain = domain
        self.deadline = float(deadline) if deadline is not None else None
        self.wait_for = wait_for
        self.fetch_outputs = fetch_outputs
        self.abort_on_deadline = abort_on_deadline
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_name": self.run_name,
                "flyte_conn_id": self.flyte_conn_id,
                "project": self.project,
                "domain": self.domain,
                "deadline": self.deadline,
                "wait_for": self.wait_for,
                "fetch_outputs": self.fetch_outputs,
                "abort_on_deadline": self.abort_on_deadline,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            key, client = await _acquire_client(self.flyte_conn_id, self.project, self.domain)
        except Exception as exc:  # bad connection: report it instead of crashing the triggerer loop
            from flyte_remote_core import redact

            yield TriggerEvent(FlyteRunEvent(status="error", run_name=self.run_name, project=self.project or "",
                                             domain=self.domain or "",
                                             message=f"connection {self.flyte_conn_id!r}: {redact(str(exc))}",
                                             retryable=True).to_payload())
            return
        try:
            event = await await_event(client, self.run_name, project=self.project, domain=self.domain,
                                      deadline=self.deadline, wait_for=self.wait_for,
                                      fetch_outputs=self.fetch_outputs, abort_on_deadline=self.abort_on_deadline)
        finally:
            await _release_client(key)
        self.log.info("Flyte run %s: %s %s", self.run_name, event.status, event.phase)
        yield TriggerEvent(event.to_payload())

    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: abort the remote run."""
        if not self.cancel_on_kill:
            return
        from flyte_remote_core import abort_quietly

        key, client = await _acquire_client(self.flyte_conn_id, self.project, self.domain)
        try:
            run = await asyncio.wait_for(client.get_run.aio(self.run_name, project=self.project, domain=self.domain),
                                         _ON_KILL_TIMEOUT_S)
            if not run.done():
                if await asyncio.wait_for(abort_quietly(run, "The Airflow task was killed while deferred"), _ON_KILL_TIMEOUT_S):
                    self.log.info("Aborted Flyte run %s", self.run_name)
                else:
                    self.log.warning("Could not abort Flyte run %s (%s); it may still be running", self.run_name, run.url)
        finally:
            await _release_client(key)
