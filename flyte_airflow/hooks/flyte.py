"""FlyteHook: the one place that knows how to talk to Flyte from Airflow.

The hook turns an Airflow connection into a :class:`flyte_remote_core.FlyteClient`
(synchronously in workers, shared per event loop in the triggerer) and hands every remote
semantic to the core's orchestration layer: idempotent launch (``launch_or_attach``),
waiting, deadline and outputs (``wait_for_result``), abort (``abort_named``), and how a
step ended and whether to retry it (``classify``). What it adds is the Airflow side:
turning the core's outcomes into a :class:`FlyteRunEvent` or an Airflow exception.

Clients are created lazily in the process (and, for async use, the event loop) that
uses them: grpcio channels must not cross a ``fork()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from flyte_airflow._compat import AirflowException, BaseHook
from flyte_airflow._event import DEADLINE_LIMIT, FlyteRunEvent, airflow_exception
from flyte_remote_core.orchestration import (
    ClientSlot,
    Outcome,
    RunLike,
    SharedClients,
    abort_named,
    classify,
    secrets_of,
)

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient, LaunchOutcome, Run, RunResult, Task

T = TypeVar("T")
_EXTRA_FIELDS = (
    "client_id",
    "client_secret",
    "project",
    "domain",
    "org",
    "insecure",
    "ca_cert_file_path",
    "console_url",
    "insecure_skip_verify",
    "api_key",
    "rpc_timeout",
)
# How long a triggerer keeps a connection's client (and its WatchRuns streams) after the last
# trigger on it ended: waves of short deferred tasks reuse one client and one stream.
SHARED_CLIENT_LINGER_S = 600.0
# One client per connection settings and event loop for every trigger of a triggerer.
_SHARED: SharedClients[Any] = SharedClients(linger=SHARED_CLIENT_LINGER_S)
# get_job_status answers that are no phase: the run is gone, or was made for other inputs
NOT_A_PHASE = ("NOT_FOUND", "STALE")


def _flag(name: str, value: Any) -> bool:
    """A boolean connection extra: the form stores JSON booleans, URI/env connections strings."""
    from flyte_remote_core import ConfigurationError

    parsed = value
    if isinstance(value, str):
        try:  # extras are JSON, so accept exactly JSON's spelling ("true", "false", 1, 0)
            parsed = json.loads(value.strip().lower() or "false")
        except ValueError:
            parsed = value
    if isinstance(parsed, bool) or (isinstance(parsed, int) and parsed in (0, 1)):
        return bool(parsed)
    raise ConfigurationError(f"connection extra {name!r} must be true or false, got {value!r}")


def client_kwargs_from_connection(conn: Any) -> dict[str, Any]:
    """``FlyteClient`` keyword arguments from an Airflow connection (pure; no I/O; holds secrets).

    Endpoint in ``host`` (with ``port`` if given separately), API key in ``password``,
    everything else in ``extra`` (plain keys, or the ``extra__flyte__<key>`` form older
    UIs wrote).
    """
    from flyte_remote_core import parse_api_key

    extra = dict(getattr(conn, "extra_dejson", None) or {})
    for key in list(extra):
        if key.startswith("extra__flyte__"):
            extra.setdefault(key.removeprefix("extra__flyte__"), extra.pop(key))
    values: dict[str, Any] = {k: extra.get(k) for k in _EXTRA_FIELDS if extra.get(k) not in (None, "")}

    host = (conn.host or "").strip()
    if conn.port and host and not host.rsplit("]", 1)[-1].count(":"):
        host = f"{host}:{conn.port}"
    if getattr(conn, "schema", None) in ("http", "https") and host and "://" not in host:
        host = f"{conn.schema}://{host}"
    api_key = conn.password or values.pop("api_key", None)
    if not host and api_key:  # an API key names its endpoint, so the host field may stay empty
        host = str(parse_api_key(api_key).endpoint)
    kwargs: dict[str, Any] = {"endpoint": host}
    if api_key:
        kwargs["api_key"] = api_key
    if conn.login and not values.get("client_id"):
        values["client_id"] = conn.login
    for key in ("insecure", "insecure_skip_verify"):
        if key in values:
            values[key] = _flag(key, values[key])
    if "rpc_timeout" in values:
        values["rpc_timeout"] = float(values["rpc_timeout"])
    kwargs.update(values)
    return kwargs


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code (a fresh loop; never the client's private one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:  # called from inside a loop: give it a thread of its own
        return pool.submit(asyncio.run, coro).result()


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.001, deadline - time.time())


class FlyteHook(BaseHook):
    """Interact with a Flyte 2 backend.

    :param flyte_conn_id: an Airflow connection of type ``flyte``. Endpoint in the host
        field (``localhost:8090``, ``dns:///flyte.example.com``), API key in the password,
        and ``project``, ``domain``, ``org``, ``insecure``, ``client_id``, ``client_secret``,
        ``ca_cert_file_path``, ``console_url`` in the extras.
    :param project: default project for this hook (the connection's otherwise).
    :param domain: default domain for this hook (the connection's otherwise).
    """

    conn_name_attr = "flyte_conn_id"
    default_conn_name = "flyte_default"
    conn_type = "flyte"
    hook_name = "Flyte"

    def __init__(
        self,
        flyte_conn_id: str = default_conn_name,
        *,
        project: str | None = None,
        domain: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flyte_conn_id = flyte_conn_id
        self.project = project
        self.domain = domain
        self._slot: ClientSlot[FlyteClient] = ClientSlot()
        self._secrets: tuple[str, ...] = ()

    # -- clients ---------------------------------------------------------------------------
    def _settings(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The client settings for connection ``kwargs`` with this hook's overrides; notes their secrets."""
        from flyte_remote_core import ConfigurationError

        settings = dict(kwargs)
        self._secrets = secrets_of(settings)
        if self.project:
            settings["project"] = self.project
        if self.domain:
            settings["domain"] = self.domain
        if not settings.get("endpoint"):
            raise ConfigurationError(
                f"Airflow connection {self.flyte_conn_id!r} has no Flyte endpoint: put it in the host field "
                "(for example 'localhost:8090' or 'dns:///flyte.example.com') or use an API key that names one"
            )
        return settings

    @staticmethod
    def _build(settings: Mapping[str, Any]) -> FlyteClient:
        from flyte_remote_core import FlyteClient

        settings = dict(settings)
        return FlyteClient(settings.pop("endpoint"), **settings)

    def get_conn(self) -> FlyteClient:
        """The FlyteClient of this hook, created on first use in this process."""
        return self._slot.get(
            lambda: self._build(self._settings(client_kwargs_from_connection(self.get_connection(self.flyte_conn_id))))
        )

    @property
    def client(self) -> FlyteClient:
        return self.get_conn()

    async def _aconnection_kwargs(self) -> dict[str, Any]:
        getter = getattr(BaseHook, "aget_connection", None)
        if getter is not None:  # Airflow >= 3.1: the async path that works inside the triggerer
            conn = await getter(self.flyte_conn_id)
        else:  # pragma: no cover - Airflow 3.0
            conn = await asyncio.to_thread(self.get_connection, self.flyte_conn_id)
        return client_kwargs_from_connection(conn)

    async def aget_conn(self) -> FlyteClient:
        """A new FlyteClient for async use (the caller closes it), from the connection fetched without blocking."""
        return self._build(self._settings(await self._aconnection_kwargs()))

    @contextlib.asynccontextmanager
    async def shared_client(self) -> AsyncIterator[FlyteClient]:
        """The client every async user of these settings on this event loop shares (the triggerer's)."""
        settings = self._settings(await self._aconnection_kwargs())
        async with _SHARED.lease(settings, lambda: self._build(settings)) as client:
            yield client

    def close(self) -> None:
        self._slot.close()

    def __enter__(self) -> FlyteHook:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """``text`` without this connection's secrets (for messages built from library errors)."""
        from flyte_remote_core import redact

        return redact(text, *self._secrets)

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's Test button: reach the endpoint and read the default project."""
        try:
            client = self.get_conn()
            project = client.get_project()
            return True, f"Connected to Flyte at {client.config.endpoint}; project {project.name!r} is reachable"
        except Exception as exc:  # the UI shows the message
            return False, f"Could not reach Flyte through connection {self.flyte_conn_id!r}: {self.redact(str(exc))}"
        finally:
            self.close()

    # -- outcomes ------------------------------------------------------------------------------
    def outcome(self, subject: BaseException | RunResult, run: RunLike | None = None) -> Outcome:
        """The core's classification of a result or error, free of this connection's secrets."""
        return classify(subject, run=run, secrets=self._secrets, deadline_limit=DEADLINE_LIMIT)

    def exception_for(
        self, exc: BaseException, what: str, *, note: str = "", retry_on_user_error: bool = False
    ) -> AirflowException:
        """The Airflow exception for an error outside a run's wait: ``"<what>: <what happened><note>"``."""
        outcome = self.outcome(exc)
        return airflow_exception(
            outcome.kind, f"{what}: {outcome.message}{note}", retry_on_user_error=retry_on_user_error
        )

    def event_for(self, run: RunLike, exc: BaseException) -> FlyteRunEvent:
        """The event for what the core raised while waiting for (or reading) ``run``."""
        return FlyteRunEvent.from_outcome(self.outcome(exc, run), run=run)

    # -- tasks and launching ---------------------------------------------------------------------
    def get_task(
        self, task_name: str, version: str | None = None, *, project: str | None = None, domain: str | None = None
    ) -> Task:
        return self.client.get_task(task_name, version, project=project, domain=domain)

    @staticmethod
    def validate_inputs(task: Task, inputs: Mapping[str, Any] | None) -> Any:
        """The converted inputs; raises :class:`flyte_remote_core.InvalidInputError` naming the first bad one.

        Sends nothing."""
        return task.to_inputs(dict(inputs or {}))

    def launch(
        self,
        task: Task,
        inputs: Mapping[str, Any] | None,
        *,
        key: str,
        attempt: int,
        run_name: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        **options: Any,
    ) -> LaunchOutcome:
        """Launch idempotently through the core's ``launch_or_attach``.

        By default run names derive from ``key``, the task and the inputs, so a new try
        attaches to an active run or reuses a succeeded one only if it was made for the
        same inputs. With ``run_name`` that name is used for attempt 1 and
        ``<run_name>-<attempt>`` after, with the same attach/reuse/relaunch rules.
        """
        options = {k: v for k, v in options.items() if v is not None}
        if run_name:
            options["name"] = run_name
        return self.client.launch_or_attach(
            task, dict(inputs or {}), key=key, attempt=attempt, prefix="af", project=project, domain=domain, **options
        )

    def get_run(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> Run:
        return self.client.get_run(run_name, project=project, domain=domain)

    def run_url(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> str:
        return self.client.run_url(run_name, project=project, domain=domain)

    # -- run status (ResumableJobMixin) -------------------------------------------------------------
    def find_run(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> Run | None:
        """The run, or None if there is none of that name (its status is then ``"NOT_FOUND"``)."""
        from flyte_remote_core import NotFoundError

        try:
            return self.get_run(run_name, project=project, domain=domain)
        except NotFoundError:
            return None

    @staticmethod
    def is_active_status(status: str) -> bool:
        from flyte_remote_core import Phase

        return status not in NOT_A_PHASE and not Phase.parse(status).is_terminal

    @staticmethod
    def is_succeeded_status(status: str) -> bool:
        from flyte_remote_core import Phase

        return status not in NOT_A_PHASE and Phase.parse(status).is_success

    # -- waiting -------------------------------------------------------------------------------
    def wait_for_result(
        self,
        run: RunLike,
        *,
        deadline: float | None = None,
        log_line: Callable[[str], None] | None = None,
        abort_on_deadline: bool = True,
    ) -> RunResult:
        """Block until the run ends (the core watches the shared stream; no polling).

        Past ``deadline`` (epoch seconds) the core aborts the run (unless ``abort_on_deadline``
        is False) and raises ``WaitTimeoutError``; a run that did not succeed raises the
        matching ``RunError``.
        """
        return self.client.wait_for_result(
            run, deadline=deadline, log_line=log_line, abort_on_deadline=abort_on_deadline
        )

    def wait_briefly(self, run: RunLike, seconds: float) -> FlyteRunEvent | None:
        """Wait up to ``seconds`` for the run to end, never aborting it: its event, or None if it
        is still active (the caller defers)."""
        from flyte_remote_core import WaitTimeoutError

        if run.done():
            return self.result_event(run)
        if seconds <= 0:
            return None
        try:
            result = self.wait_for_result(run, deadline=time.time() + seconds, abort_on_deadline=False)
        except WaitTimeoutError:
            return None
        except AirflowException:
            raise
        except Exception as exc:
            return self.event_for(run, exc)
        return FlyteRunEvent.from_result(result)

    def wait_event(
        self, run: RunLike, *, deadline: float | None = None, log_line: Callable[[str], None] | None = None
    ) -> FlyteRunEvent:
        """:meth:`wait_for_result` as an event: the outputs, or the core's outcome. Airflow's own
        exceptions (a task timeout, a kill) pass through."""
        try:
            return FlyteRunEvent.from_result(self.wait_for_result(run, deadline=deadline, log_line=log_line))
        except AirflowException:
            raise
        except Exception as exc:
            return self.event_for(run, exc)

    def result_event(self, run: RunLike) -> FlyteRunEvent:
        """The event for a run that is already terminal: outputs, or the core's error."""
        return self.wait_event(run)

    async def await_event(
        self,
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
        """Wait in async code (the core's shared watcher) and describe the outcome as an event.

        Never raises for a remote outcome: the core's result or error becomes the event the
        operator turns into an Airflow exception. ``abort_on_deadline=False`` (a sensor) never
        touches the run it watches.
        """
        try:
            run = await client.get_run.aio(run_name, project=project, domain=domain)
        except Exception as exc:
            return FlyteRunEvent.from_outcome(
                self.outcome(exc),
                run_name=run_name,
                run_url=client.run_url(run_name, project=project, domain=domain),
                project=project or client.project,
                domain=domain or client.domain,
            )
        try:
            if wait_for == "running" and not run.done():
                await run.wait.aio(quiet=True, wait_for="running", timeout=_remaining(deadline))
                if not run.done():
                    return FlyteRunEvent.for_run(run)
            result = await client.wait_for_result.aio(run, deadline=deadline, abort_on_deadline=abort_on_deadline)
        except Exception as exc:
            return self.event_for(run, exc)
        event = FlyteRunEvent.from_result(result)
        return event if fetch_outputs else event.replace(outputs={})

    # -- aborting ----------------------------------------------------------------------------------
    def abort(self, run: RunLike, *, reason: str = "Aborted by Airflow") -> bool:
        """Abort a run; True if the backend accepted it. Failures are logged, not raised (used on the way out).

        The client's own loop may be busy waiting (this is how ``on_kill`` gets here), so the
        core's ``abort_named`` runs on a short-lived loop, through this hook's client, whose
        channel on that loop is closed afterwards.
        """
        client = self.client

        async def attempt() -> bool:
            try:
                return bool(
                    await abort_named(
                        client, run.name, project=run.project, domain=run.domain, reason=reason, only_if_active=False
                    )
                )
            finally:
                await client.aclose()

        return _blocking(attempt())

    def abort_superseded(self, run_name: str, *, project: str | None, domain: str | None, reason: str) -> bool | None:
        """Abort ``run_name`` if it is still active (blocking; on a short-lived loop, like :meth:`abort`).

        True/False: the abort was (not) accepted; None: the run had already ended (or is gone)."""
        from flyte_remote_core import NotFoundError

        client = self.client

        async def attempt() -> bool | None:
            try:
                try:
                    await client.get_run.aio(run_name, project=project, domain=domain)
                except NotFoundError:
                    return None
                return await abort_named(client, run_name, project=project, domain=domain, reason=reason)
            finally:
                await client.aclose()

        return _blocking(attempt())

    async def abort_active(
        self, client: FlyteClient, run_name: str, *, project: str | None, domain: str | None, reason: str
    ) -> bool | None:
        """Abort ``run_name`` if it is still active (async).

        True/False: the abort was (not) accepted; None: the run had already ended."""
        return await abort_named(client, run_name, project=project, domain=domain, reason=reason)
