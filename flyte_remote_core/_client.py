"""``FlyteClient``: an explicit client for one Flyte 2 endpoint, with no global state.

A thin composition: the transport (:class:`~._transport.Rpc` over a pooled channel), the
per-service facades (:class:`~._services.ServiceSet`) and the records built on them. Every
I/O method has a blocking form and an ``.aio`` twin (``client.get_run("r1")`` and
``await client.get_run.aio("r1")``). Several clients for several endpoints live side by
side in one process; clients with the same settings share one channel per event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flyteidl2.secret import definition_pb2

from ._errors import ConfigurationError, NotFoundError, RunAlreadyExistsError
from ._names import check_run_name
from ._phases import Phase
from ._records import (
    Project,
    Run,
    RunChange,
    Secret,
    Task,
    Trigger,
    User,
    create_run,
    fetch_task,
    get_run,
    run_spec,
)
from ._services import Scope, ServiceSet, upload_dir, upload_file
from ._syncify import LoopThread, syncify, syncify_gen
from ._transport import (
    ClientConfig,
    Rpc,
    channel_config,
    collect_pages,
    parse_api_key,
    parse_endpoint,
    settings_from_env,
)
from .orchestration import LaunchOutcome, RunResult, launch_or_attach, run_to_completion, wait_for_result


class FlyteClient:
    """A client for one Flyte 2 endpoint, project and domain (both overridable per call)."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        api_key: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
        token_command: Sequence[str] | None = None,
        proxy_command: Sequence[str] | None = None,
        insecure: bool = False,
        insecure_skip_verify: bool = False,
        ca_cert_file_path: str | None = None,
        grpc_options: Sequence[tuple[str, Any]] | None = None,
        compression: Any = None,
        project: str | None = None,
        domain: str | None = None,
        org: str | None = None,
        console_url: str | None = None,
        rpc_timeout: float | None = 60.0,
        **channel_kwargs: Any,
    ) -> None:
        key = parse_api_key(api_key) if api_key else None  # raises ConfigurationError, never echoing the key
        if not endpoint:
            if key is None:
                raise ConfigurationError(
                    "FlyteClient: endpoint is required (for example 'localhost:8090' or 'dns:///flyte.example.com'), "
                    "or an api_key that names one"
                )
            endpoint = key.endpoint  # as the official SDK does: the key carries its endpoint
        parsed = parse_endpoint(endpoint)  # raises ConfigurationError on junk
        if key is not None and not org:
            org = key.org or None
        self.config = ClientConfig(
            endpoint=endpoint,
            api_key=api_key,
            client_id=client_id,
            client_secret=client_secret,
            token=token,
            token_command=tuple(token_command) if token_command else None,
            proxy_command=tuple(proxy_command) if proxy_command else None,
            insecure=bool(insecure) or parsed.tls is False,
            insecure_skip_verify=insecure_skip_verify,
            ca_cert_file_path=ca_cert_file_path,
            grpc_options=tuple(grpc_options or ()),
            compression=compression,
            extra=tuple(sorted(channel_kwargs.items())),
        )
        self.project = project or "flytesnacks"
        self.domain = domain or "development"
        self.org = org or ""
        # Validated now, so a bad option fails at construction; its token sources (and cached
        # tokens) are shared by the channels of every event loop.
        self._channel_config = channel_config(**self.config.channel_kwargs())
        rpc = Rpc(self._channel_config.open, key=self.config.key(), timeout=rpc_timeout)
        self._services = ServiceSet(
            rpc,
            Scope(self.org, self.project, self.domain),
            config=self.config,
            endpoint=parsed,
            loop_thread=LoopThread(),
            console_base=console_url,
        )
        self._closed = False

    @classmethod
    def from_env(cls, **overrides: Any) -> FlyteClient:
        """Build a client from ``FLYTE_*`` environment variables; keyword arguments win."""
        endpoint, values = settings_from_env(overrides)
        return cls(endpoint, **values)

    def __repr__(self) -> str:
        return f"FlyteClient(endpoint={self.config.endpoint!r}, project={self.project!r}, domain={self.domain!r})"

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        """Release this client's channels and stop its private loop. Safe to call twice.

        Channels shared with other clients of the same settings stay open for them.
        """
        if self._closed:
            return
        self._closed = True
        loop_thread = self._services.loop_thread
        for loop, channel in self._services.rpc.release_all():
            if loop.is_closed():
                continue
            if loop is loop_thread.current_loop:
                try:
                    loop_thread.run(channel.close())
                except Exception:
                    pass
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(channel.close(), loop)
        loop_thread.stop()

    async def aclose(self) -> None:
        """Release this client's share of the running loop's channel.

        Only what this client holds is let go: another client's waits on the shared watcher
        and channel go on (the watcher closes its stream a short while after its last wait).
        """
        await self._services.rpc.close()

    def __enter__(self) -> FlyteClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> FlyteClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    @property
    def services(self) -> ServiceSet:
        """The typed per-service facades this client is built on (``Run(pb2, services=client.services)``)."""
        return self._services

    def run_url(
        self, run_name: str, *, project: str | None = None, domain: str | None = None, action: str | None = None
    ) -> str:
        """The console URL of a run (action pages add ``?i=<action>``)."""
        return self._services.run_url(run_name, project=project, domain=domain, action=action)

    # -- tasks ----------------------------------------------------------------------------
    @syncify
    async def get_task(
        self, name: str, version: str | None = None, *, project: str | None = None, domain: str | None = None
    ) -> Task:
        """A deployed task; ``version`` None or "latest" picks the newest deployed version."""
        return await fetch_task(self._services, name, version, project=project, domain=domain)

    @syncify
    async def list_tasks(
        self, *, project: str | None = None, domain: str | None = None, limit: int = 200
    ) -> list[Task]:
        """The latest version of every task deployed in a project and domain."""
        project, domain = self._services.scope.resolve(project, domain)

        async def page(token: str, size: int) -> tuple[list[Task], str]:
            tasks, next_token = await self._services.tasks.list_page(project, domain, token=token, size=size)
            return [Task(t, services=self._services) for t in tasks], next_token

        return await collect_pages(page, limit)

    # -- runs ------------------------------------------------------------------------------
    @syncify
    async def run(
        self,
        task_or_name: Task | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        version: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        overwrite_cache: bool = False,
        interruptible: bool | None = None,
        queue: str | None = None,
    ) -> Run:
        """Launch a run of a deployed task.

        The name, every option and the inputs are checked before anything is sent. With a
        ``name`` that already exists, raises :class:`RunAlreadyExistsError` carrying the
        existing run (whichever way the backend reports it).
        """
        if name is not None:
            check_run_name(name)
        options: dict[str, Any] = dict(
            labels=labels,
            annotations=annotations,
            envs=envs,
            overwrite_cache=overwrite_cache,
            interruptible=interruptible,
            queue=queue,
        )
        run_spec(**options)  # raises InvalidRunOptionError before any call
        task = (
            task_or_name
            if isinstance(task_or_name, Task)
            else await self.get_task.aio(task_or_name, version, project=project, domain=domain)
        )
        prepared = task.to_inputs(inputs)
        project, domain = project or task.project, domain or task.domain
        if name is not None:
            try:
                existing = await get_run(self._services, name, project=project, domain=domain)
            except NotFoundError:
                pass
            else:
                raise RunAlreadyExistsError(existing, entity=f"run {name}")
        return await self.create_run.aio(task, prepared, name=name, project=project, domain=domain, **options)

    @syncify
    async def create_run(
        self, task: Task, inputs: Any, *, name: str | None, project: str, domain: str, **run_options: Any
    ) -> Run:
        """Launch already-converted inputs (``task.to_inputs(...)``): the SDK's UploadInputs + CreateRun.

        Unlike :meth:`run` it makes no pre-check read: a named run that turns out to exist
        raises :class:`RunAlreadyExistsError` carrying it. ``run_options`` are those of :meth:`run`.
        """
        spec = run_spec(**run_options)
        return await create_run(self._services, task, inputs, name=name, project=project, domain=domain, spec=spec)

    @syncify
    async def get_run(self, name: str, *, project: str | None = None, domain: str | None = None) -> Run:
        return await get_run(self._services, name, project=project, domain=domain)

    @syncify
    async def list_runs(
        self, *, project: str | None = None, domain: str | None = None, task_name: str | None = None, limit: int = 100
    ) -> list[Run]:
        project, domain = self._services.scope.resolve(project, domain)

        async def page(token: str, size: int) -> tuple[list[Run], str]:
            runs, next_token = await self._services.runs.list_page(
                project, domain, task_name=task_name, token=token, size=size
            )
            return [Run(r, services=self._services) for r in runs], next_token

        return await collect_pages(page, limit)

    @syncify_gen
    async def watch_runs(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        task_name: str | None = None,
        phases: Iterable[Phase | str] | None = None,
    ) -> AsyncIterator[RunChange]:
        """Every phase change of the runs of a project and domain, from the moment the watch begins.

        Yields a :class:`RunChange` each time a run's root action reaches a new phase (only
        ``phases``, and only runs of ``task_name``, when given). The watch begins when iteration
        does: it takes a baseline of the current runs, and runs that ended before it report
        nothing. It rides the client's shared ``WatchRuns`` stream (one per endpoint, project and
        domain per event loop, shared with every wait and watch there). A reconnect neither loses
        nor repeats a change: the watch re-lists the runs and reports, once, those that changed
        meanwhile. It never ends by itself; stop iterating (or cancel) to end it. Arguments are
        checked before anything is sent (an unknown phase raises ``ValueError``).
        """
        wanted = frozenset(Phase.parse(p) for p in phases) if phases is not None else None
        if task_name is not None and not task_name:
            raise ConfigurationError("watch_runs: task_name must be a non-empty task name or None")
        project, domain = self._services.scope.resolve(project, domain)
        async for change in self._services.watcher().watch_runs(self.org, project, domain):
            if wanted is not None and change.phase not in wanted:
                continue
            run = Run(change.run, services=self._services)
            if task_name is not None and run.task_name != task_name:
                continue
            yield RunChange(run, change.phase, change.previous, change.resynced)

    # -- orchestration (see flyte_remote_core.orchestration) ---------------------------------
    @syncify
    async def run_to_completion(
        self,
        task: Task | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        key: str = "",
        attempt: int = 1,
        **options: Any,
    ) -> RunResult:
        """Launch or attach, wait, and return a :class:`RunResult`; see :func:`flyte_remote_core.run_to_completion`."""
        return await run_to_completion(self, task, inputs, key=key, attempt=attempt, **options)

    @syncify
    async def wait_for_result(self, run: Run, **options: Any) -> RunResult:
        """Wait for a run and return a :class:`RunResult`; see :func:`flyte_remote_core.wait_for_result`."""
        return await wait_for_result(self, run, **options)

    @syncify
    async def launch_or_attach(
        self,
        task: Task | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        key: str = "",
        attempt: int = 1,
        prefix: str = "r",
        **options: Any,
    ) -> LaunchOutcome:
        """Idempotent launch for orchestrators; see :func:`flyte_remote_core.launch_or_attach`."""
        return await launch_or_attach(
            self, task, dict(inputs or {}), key=key, attempt=attempt, prefix=prefix, **options
        )

    # -- projects, secrets, triggers, user, uploads -----------------------------------------
    @syncify
    async def get_project(self, name: str | None = None) -> Project:
        return Project(await self._services.projects.get(name or self.project), services=self._services)

    @syncify
    async def list_projects(self, *, limit: int = 100) -> list[Project]:
        return [Project(p, services=self._services) for p in await self._services.projects.list(limit)]

    @syncify
    async def create_secret(
        self,
        name: str,
        value: str | bytes,
        *,
        project: str | None = None,
        domain: str | None = None,
        type: str = "generic",
    ) -> None:
        try:
            secret_type = definition_pb2.SecretType.Value(f"SECRET_TYPE_{str(type).upper()}")
        except ValueError:
            names = [n.removeprefix("SECRET_TYPE_").lower() for n in definition_pb2.SecretType.keys()]  # noqa: SIM118 (an enum wrapper, not a dict)
            raise ConfigurationError(f"create_secret: type must be one of {names}, got {type!r}") from None
        spec = definition_pb2.SecretSpec(type=secret_type)  # type: ignore[arg-type]
        if isinstance(value, bytes):
            spec.binary_value = value
        else:
            spec.string_value = value
        await self._services.secrets.create(self._services.secrets.secret_id(name, project, domain), spec)

    @syncify
    async def get_secret(self, name: str, *, project: str | None = None, domain: str | None = None) -> Secret:
        secret = await self._services.secrets.get(self._services.secrets.secret_id(name, project, domain))
        return Secret(secret, services=self._services)

    @syncify
    async def list_secrets(
        self, *, project: str | None = None, domain: str | None = None, limit: int = 100
    ) -> list[Secret]:
        return [Secret(s, services=self._services) for s in await self._services.secrets.list(project, domain, limit)]

    @syncify
    async def delete_secret(self, name: str, *, project: str | None = None, domain: str | None = None) -> None:
        await self._services.secrets.delete(self._services.secrets.secret_id(name, project, domain))

    @syncify
    async def get_trigger(
        self, name: str, *, task_name: str, project: str | None = None, domain: str | None = None
    ) -> Trigger:
        triggers = self._services.triggers
        response = await triggers.details(triggers.trigger_name(name, task_name, project, domain))
        return Trigger.from_details(response.trigger, self._services)

    @syncify
    async def list_triggers(
        self, *, task_name: str | None = None, project: str | None = None, domain: str | None = None, limit: int = 100
    ) -> list[Trigger]:
        project, domain = self._services.scope.resolve(project, domain)
        response = await self._services.triggers.list(project, domain, task_name, limit)
        return [Trigger(t, services=self._services) for t in response.triggers]

    @syncify
    async def set_trigger_active(
        self, name: str, active: bool, *, task_name: str, project: str | None = None, domain: str | None = None
    ) -> None:
        triggers = self._services.triggers
        await triggers.set_active(triggers.trigger_name(name, task_name, project, domain), active)

    @syncify
    async def user(self) -> User:
        return User(await self._services.identity.user_info())

    @syncify
    async def upload_file(self, fp: Path | str, verify: bool = True) -> tuple[str, str]:
        """Upload a file through the data proxy; returns ``(md5 hex, remote URI)``."""
        return await upload_file(self._services, fp, verify=verify)

    @syncify
    async def upload_dir(self, dir_path: Path | str, verify: bool = True) -> str:
        """Upload a directory keeping sub-folder paths; returns the remote directory URI."""
        return await upload_dir(self._services, dir_path, verify=verify)
