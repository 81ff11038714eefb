"""FlyteHook: the one place that knows how to talk to Flyte from Airflow.

The hook turns an Airflow connection into a :class:`flyte_remote_core.FlyteClient`
(synchronously in workers, asynchronously in the triggerer) and hands every remote
semantic to the core: idempotent launch (``launch_or_attach``), waiting, deadline and
outputs (``wait_for_result``), abort (``abort_quietly``). What it adds is the Airflow
side: turning the core's results and errors into a :class:`FlyteRunEvent`, and saying
truthfully whether a run was aborted.

Clients are created lazily in the process (and, for async use, the event loop) that
uses them: grpcio channels must not cross a ``fork()``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from flyte_airflow._compat import BaseHook
from flyte_airflow._event import FlyteRunEvent

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient, LaunchOutcome, Run, RunResult, Task, WaitTimeoutError

T = TypeVar("T")
_EXTRA_FIELDS = ("client_id", "client_secret", "project", "domain", "org", "insecure", "ca_cert_file_path",
                 "console_url", "insecure_skip_verify", "api_key", "rpc_timeout")
_SECRET_FIELDS = ("api_key", "client_secret")


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


def _parse_api_key(api_key: str) -> Any:
    # The core has no public twin of parse_api_key; this is the one place the provider
    # reaches into it: an API key names its endpoint (so the host field may stay empty)
    # and carries a client secret that must be redacted like the key itself.
    from flyte_remote_core import parse_api_key

    return parse_api_key(api_key)


def client_kwargs_from_connection(conn: Any) -> dict[str, Any]:
    """``FlyteClient`` keyword arguments from an Airflow connection (pure; no I/O; holds secrets).

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
        host = str(_parse_api_key(api_key).endpoint)
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
        self._secrets: tuple[str, ...] = ()

    # -- clients ---------------------------------------------------------------------------
    def _client_from_kwargs(self, kwargs: dict[str, Any]) -> FlyteClient:
        from flyte_remote_core import ConfigurationError, FlyteClient

        kwargs = dict(kwargs)
        secrets = [str(kwargs[k]) for k in _SECRET_FIELDS if kwargs.get(k)]
        if kwargs.get("api_key"):
            try:
                secrets.append(_parse_api_key(kwargs["api_key"]).client_secret)
            except ValueError:  # a malformed key: the client below says so, without repeating it
                pass
        self._secrets = tuple(secrets)
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

    # -- tasks and launching ---------------------------------------------------------------------
    def get_task(self, task_name: str, version: str | None = None, *, project: str | None = None,
                 domain: str | None = None) -> Task:
        return self.client.get_task(task_name, version, project=project, domain=domain)

    @staticmethod
    def validate_inputs(task: Task, inputs: Mapping[str, Any] | None) -> Any:
        """The converted inputs; raises :class:`flyte_remote_core.InvalidInputError` naming the first bad one. Sends nothing."""
        return task.to_inputs(dict(inputs or {}))

    def launch(self, task: Task, inputs: Mapping[str, Any] | None, *, key: str, attempt: int,
               run_name: str | None = None, project: str | None = None, domain: str | None = None,
               **options: Any) -> LaunchOutcome:
        """Launch idempotently through the core's ``launch_or_attach``.

        By default run names derive from ``key``, the task and the inputs, so a new try
        attaches to an active run or reuses a succeeded one only if it was made for the
        same inputs. With ``run_name`` that name is used for attempt 1 and
        ``<run_name>-<attempt>`` after, with the same attach/reuse/relaunch rules.
        """
        options = {k: v for k, v in options.items() if v is not None}
        if run_name:
            options["name"] = run_name
        return self.client.launch_or_attach(task, dict(inputs or {}), key=key, attempt=attempt, prefix="af",
                                            project=project, domain=domain, **options)

    def get_run(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> Run:
        return self.client.get_run(run_name, project=project, domain=domain)

    def run_url(self, run_name: str, *, project: str | None = None, domain: str | None = None) -> str:
        return self.client.run_url(run_name, project=project, domain=domain)

    # -- waiting -------------------------------------------------------------------------------
    def wait_for_result(self, run: Run, *, deadline: float | None = None,
                        log_line: Callable[[str], None] | None = None) -> RunResult:
        """Block until the run ends (the core watches the shared stream; no polling).

        Past ``deadline`` (epoch seconds) the core aborts the run and raises
        ``WaitTimeoutError``; a run that did not succeed raises the matching ``RunError``.
        """
        return self.client.wait_for_result(run, deadline=deadline, log_line=log_line)

    def result_event(self, run: Run) -> FlyteRunEvent:
        """The event for a run that is already terminal: outputs, or the core's error."""
        from flyte_remote_core import FlyteError

        try:
            return FlyteRunEvent.from_result(self.wait_for_result(run))
        except FlyteError as exc:
            return FlyteRunEvent.from_error(run, exc)

    def deadline_event(self, run: Run, exc: WaitTimeoutError) -> FlyteRunEvent:
        """The event after the core's wait passed its deadline, saying whether the run really was aborted."""
        # The core aborted the run at the deadline and says whether the abort was accepted.
        return FlyteRunEvent.deadline(run, aborted=bool(exc.aborted), last_phase=exc.phase)

    def abort(self, run: Run, *, reason: str = "Aborted by Airflow") -> bool:
        """Abort a run; True if the backend accepted it. Failures are logged, not raised (used on the way out).

        ``abort_quietly`` is async-only and the client's own loop may be busy waiting (this
        is how ``on_kill`` gets here), so it runs on a short-lived loop, on a copy of the run
        read through this hook's client, whose channel on that loop is closed afterwards.
        """
        from flyte_remote_core import FlyteError, abort_quietly

        client = self.client

        async def attempt() -> bool:
            try:
                mine = await client.get_run.aio(run.name, project=run.project, domain=run.domain)
                return await abort_quietly(mine, reason)
            except FlyteError as exc:
                self.log.warning("Could not abort Flyte run %s: %s", run.name, self.redact(str(exc)))
                return False
            finally:
                await client.aclose()

        return _blocking(attempt())
