"""FlyteHook: the one place that knows how to talk to Flyte from Airflow.

The hook turns an Airflow connection into a :class:`flyte_remote_core.FlyteClient`
(synchronously in workers, asynchronously in the triggerer) and owns every remote
semantic the operator, sensor and trigger use: input validation, idempotent launch,
waiting, outputs, abort, and how a finished run becomes a :class:`FlyteRunEvent`.
Operators only orchestrate.

Clients are created lazily in the process (and, for async use, the event loop) that
uses them: grpcio channels must not cross a ``fork()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from flyte_airflow._event import FlyteRunEvent, event_from_run_error

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient, LaunchOutcome, Run, Task
    from flyte_remote_core._orchestrate import RunResult

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_EXTRA_FIELDS = ("client_id", "client_secret", "project", "domain", "org", "insecure", "ca_cert_file_path",
                 "console_url", "insecure_skip_verify", "api_key", "rpc_timeout")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def client_kwargs_from_connection(conn: Any) -> dict[str, Any]:
    """``FlyteClient`` keyword arguments from an Airflow connection (pure; no I/O).

    Endpoint in ``host`` (with ``port`` if given separately), API key in ``password``,
    everything else in ``extra`` (plain keys, or the ``extra__flyte__<key>`` form older
    UIs wrote).
    """
    extra = dict(getattr(conn, "extra_dejson", None) or {})
    for key in list(extra):
        if key.startswith("extra__flyte__"):
            extra.setdefault(key.removeprefix("extra__flyte__"), extra.pop(key))
    values = {k: extra.get(k) for k in _EXTRA_FIELDS if extra.get(k) not in (None, "")}

    host = (conn.host or "").strip()
    if conn.port and host and not host.rsplit("]", 1)[-1].count(":"):
        host = f"{host}:{conn.port}"
    if getattr(conn, "schema", None) in ("http", "https") and host and "://" not in host:
        host = f"{conn.schema}://{host}"
    api_key = conn.password or values.pop("api_key", None)
    if not host and api_key:
        from flyte_remote_core._auth import parse_api_key

        host = parse_api_key(api_key).endpoint
    kwargs: dict[str, Any] = {"endpoint": host}
    if api_key:
        kwargs["api_key"] = api_key
    if conn.login and not values.get("client_id"):
        values["client_id"] = conn.login
    for key in ("insecure", "insecure_skip_verify"):
        if key in values:
            values[key] = _as_bool(values[key])
    if "rpc_timeout" in values:
        values["rpc_timeout"] = float(values["rpc_timeout"])
    kwargs.update(values)
    return kwargs


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

    def __init__(self, flyte_conn_id: str = default_conn_name, *, project: str | None = None,
                 domain: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flyte_conn_id = flyte_conn_id
        self.project = project
        self.domain = domain
        self._client: FlyteClient | None = None

    # -- clients ---------------------------------------------------------------------------
    def _client_from_kwargs(self, kwargs: dict[str, Any]) -> FlyteClient:
        from flyte_remote_core import ConfigurationError, FlyteClient

        kwargs = dict(kwargs)
        endpoint = kwargs.pop("endpoint", "")
        if self.project:
            kwargs["project"] = self.project
        if self.domain:
            kwargs["domain"] = self.domain
        if not endpoint:
            raise ConfigurationError(
                f"Airflow connection {self.flyte_conn_id!r} has no Flyte endpoint: put it in the host field "
                "(for example 'localhost:8090' or 'dns:///flyte.example.com') or use an API key that names one"
            )
        return FlyteClient(endpoint, **kwargs)

    def get_conn(self) -> FlyteClient:
        """The FlyteClient of this hook, created on first use in this process."""
        if self._client is None:
            conn = self.get_connection(self.flyte_conn_id)
            self._client = self._client_from_kwargs(client_kwargs_from_connection(conn))
        return self._client

    @property
    def client(self) -> FlyteClient:
        return self.get_conn()

    async def aget_conn(self) -> FlyteClient:
        """A FlyteClient for async use, built from the connection fetched without blocking the loop."""
        getter = getattr(BaseHook, "aget_connection", None)
        if getter is not None:  # Airflow >= 3.1: the async path that works inside the triggerer
            conn = await getter(self.flyte_conn_id)
        else:  # pragma: no cover - Airflow 3.0
            conn = await asyncio.to_thread(self.get_connection, self.flyte_conn_id)
        return self._client_from_kwargs(client_kwargs_from_connection(conn))

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def __enter__(self) -> FlyteHook:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's Test button: reach the endpoint and read the default project."""
        try:
            client = self.get_conn()
            project = client.get_project()
            return True, f"Connected to Flyte at {client.config.endpoint}; project {project.name!r} is reachable"
        except Exception as exc:  # the UI shows the message
            return False, f"Could not reach Flyte through connection {self.flyte_conn_id!r}: {exc}"
        finally:
            self.close()

    # -- tasks and launching ---------------------------------------------------------------------
    def get_task(self, task_name: str, version: str | None = None, *, project: str | None = None,
                 domain: str | None = None) -> Task:
        return self.client.get_task(task_name, version, project=project, domain=domain)

    @staticmethod
    def validate_inputs(task: Task, inputs: Mapping[str, Any] | None) -> None:
        """Raise :class:`flyte_remote_core.InvalidInputError` naming the first bad input; sends nothing."""
        task.to_inputs(dict(inputs or {}))

    def launch(self, task: Task, inputs: Mapping[str, Any] | None, *, key: str, attempt: int,
               run_name: str | None = None, project: str | None = None, domain: str | None = None,
               **options: Any) -> LaunchOutcome:
        """Launch idempotently: attach to an active run of an earlier try, reuse a succeeded one.

        With an explicit ``run_name`` that name is used as is: an existing active or succeeded
        run of that name is attached to or reused, and a failed one is replaced by
        ``<run_name>-<n>`` for the first free ``n``.
        """
        from flyte_remote_core import LaunchOutcome, RunAlreadyExistsError
        from flyte_remote_core._launch import check_run_name

        client = self.client
        options = {k: v for k, v in options.items() if v is not None}
        if not run_name:
            return client.launch_or_attach(task, dict(inputs or {}), key=key, attempt=attempt, prefix="af",
                                           project=project, domain=domain, **options)
        check_run_name(run_name)
        candidates = [run_name] + [f"{run_name[: 30 - len(str(n)) - 1].rstrip('-')}-{n}" for n in range(2, 10)]
        for name in candidates:
            try:
                run = client.run(task, dict(inputs or {}), name=name, project=project, domain=domain, **options)
                return LaunchOutcome(run, "launched", attempt)
            except RunAlreadyExistsError as exc:
                existing = exc.run
                if existing.phase.is_success:
                    return LaunchOutcome(existing, "reused", attempt)
                if not existing.phase.is_terminal:
                    return LaunchOutcome(existing, "attached", attempt)
                self.log.info("Run %s ended %s; launching under the next free name", name, existing.phase)
        raise RunAlreadyExistsError(existing, entity=f"run {run_name}")

    def get_run(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> Run:
        return self.client.get_run(run_name, project=project, domain=domain)

    def run_url(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> str:
        return self.client.run_url(run_name, project=project, domain=domain)

    # -- waiting -------------------------------------------------------------------------------
    def wait_for_result(self, run: Run, *, deadline: float | None = None,
                        log_line: Callable[[str], None] | None = None) -> RunResult:
        """Block until the run ends (watching the shared stream; no polling); see ``wait_for_result``.

        Past ``deadline`` (epoch seconds) the run is aborted and WaitTimeoutError raised; a
        failed run raises the matching ``RunError``.
        """
        from flyte_remote_core import wait_for_result

        client = self.client
        coro = wait_for_result(client, run, deadline=deadline, log_line=log_line)
        # The client runs blocking calls on its private loop thread; the core has no public
        # blocking twin of wait_for_result, so use the same loop (its channel is already open).
        loop_thread = getattr(client, "_loop_thread", None)
        if loop_thread is not None:
            return loop_thread.run(coro)
        return asyncio.run(coro)  # pragma: no cover

    def abort(self, run_name: str, *, project: str | None = None, domain: str | None = None,
              reason: str = "Aborted by Airflow") -> bool:
        """Abort a run; failures are logged, not raised (used on the way out)."""
        try:
            self.get_run(run_name, project=project, domain=domain).abort(reason)
            self.log.info("Aborted Flyte run %s: %s", run_name, reason)
            return True
        except Exception as exc:
            self.log.warning("Could not abort Flyte run %s: %s", run_name, exc)
            return False

    def result_event(self, run: Run, *, fetch_outputs: bool = True) -> FlyteRunEvent:
        """The event describing a run that is already terminal (sync twin of :meth:`await_event`)."""
        from flyte_remote_core import RunError

        base = FlyteRunEvent.for_run(run)
        if not fetch_outputs and run.phase.is_success:
            return base
        try:
            outputs = run.outputs()
        except RunError as exc:
            return event_from_run_error(base, exc)
        return base.with_outputs(outputs.to_dict() if fetch_outputs else {})


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
    """Wait (async, through the core's shared watcher) and describe the outcome as an event.

    Never raises for a remote outcome: errors become events the operator turns into
    Airflow exceptions. Used by :class:`FlyteRunTrigger`.
    """
    from flyte_remote_core import NotFoundError, RemoteError, RunError, WaitTimeoutError, abort_quietly

    try:
        run = await client.get_run.aio(run_name, project=project, domain=domain)
    except NotFoundError as exc:
        return FlyteRunEvent(status="error", run_name=run_name, run_url=client.run_url(run_name, project=project, domain=domain),
                             project=project or client.project, domain=domain or client.domain,
                             message=str(exc), retryable=False)
    except RemoteError as exc:
        return FlyteRunEvent(status="error", run_name=run_name, run_url=client.run_url(run_name, project=project, domain=domain),
                             project=project or client.project, domain=domain or client.domain,
                             message=str(exc), retryable=True)
    started = time.monotonic()
    try:
        if not (run.done() or (wait_for == "running" and run.phase.value == "RUNNING")):
            if deadline is not None and deadline - time.time() <= 0:
                raise WaitTimeoutError(run.name, 0.0, run.phase.value)
            timeout = None if deadline is None else max(0.001, deadline - time.time())
            await run.wait.aio(quiet=True, wait_for=wait_for, timeout=timeout)
    except WaitTimeoutError as exc:
        aborted = False
        if abort_on_deadline:
            aborted = await abort_quietly(run, f"Airflow deadline passed after {time.monotonic() - started:.0f}s of waiting")
        event = FlyteRunEvent.for_run(run)
        return event.replace(status="deadline", retryable=True, message=(
            f"the deadline passed before run {run.name} finished (last phase {exc.phase or run.phase.value}); "
            + ("the run was aborted" if aborted else "the run was NOT aborted" if abort_on_deadline else
               "the run goes on")))
    except RemoteError as exc:
        return FlyteRunEvent.for_run(run).replace(status="error", message=str(exc), retryable=exc.retryable)
    event = FlyteRunEvent.for_run(run)
    if not run.done():  # wait_for == "running"
        return event
    if not fetch_outputs and run.phase.is_success:
        return event
    try:
        outputs = await run.outputs.aio()
    except RunError as exc:
        return event_from_run_error(event, exc)
    except RemoteError as exc:
        return event.replace(status="error", message=f"run {run.name} {run.phase.value} but its outputs could not be read: {exc}",
                             retryable=True)
    return event.with_outputs(outputs.to_dict() if fetch_outputs else {})
