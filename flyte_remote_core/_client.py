"""``FlyteClient``: an explicit client for one Flyte 2 endpoint, with no global state.

Every I/O method has a blocking form and an ``.aio`` twin (``client.get_run("r1")`` and
``await client.get_run.aio("r1")``). Several clients for several endpoints live side by
side in one process; each keeps one gRPC channel per event loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ._config import ClientConfig
from ._resources import ResourcesMixin
from ._run_data import RunDataMixin
from ._task_api import TaskLookupMixin
from ._waiting import WaitingMixin
from ._errors import (
    AlreadyExistsError,
    ConfigurationError,
    NotFoundError,
    RunAlreadyExistsError,
)
from ._rpc import Rpc, collect_pages
from ._run import Run
from ._syncify import LoopThread, syncify
from ._task import Task

# The run label that marks which launch created a named run (see create_run).
LAUNCH_LABEL = "flyte-integrations-launch-id"


class FlyteClient(TaskLookupMixin, RunDataMixin, WaitingMixin, ResourcesMixin):
    """A client for one Flyte 2 endpoint, project and domain (both overridable per call)."""

    def __init__(
        self,
        endpoint: str,
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
        from ._endpoint import parse_endpoint

        if not endpoint:
            raise ConfigurationError("FlyteClient: endpoint is required (for example 'localhost:8090' or 'dns:///flyte.example.com')")
        self._endpoint = parse_endpoint(endpoint)  # raises ConfigurationError on junk
        if api_key and not org:
            from ._auth import parse_api_key

            org = parse_api_key(api_key).org or None
        self.config = ClientConfig(
            endpoint=endpoint,
            api_key=api_key,
            client_id=client_id,
            client_secret=client_secret,
            token=token,
            token_command=tuple(token_command) if token_command else None,
            proxy_command=tuple(proxy_command) if proxy_command else None,
            insecure=bool(insecure) or self._endpoint.tls is False,
            insecure_skip_verify=insecure_skip_verify,
            ca_cert_file_path=ca_cert_file_path,
            grpc_options=tuple(grpc_options or ()),
            compression=compression,
            extra=tuple(sorted(channel_kwargs.items())),
        )
        self.project = project or "flytesnacks"
        self.domain = domain or "development"
        self.org = org or ""
        self._console_url = console_url
        from ._channel import channel_config

        # Validated now, so a bad option fails at construction; its token sources (and cached
        # tokens) are shared by the channels of every event loop.
        self._channel_config = channel_config(**self.config.channel_kwargs())
        self._rpc = Rpc(self._make_channel, timeout=rpc_timeout)
        self._loop_thread = LoopThread()
        self._closed = False

    @classmethod
    def from_env(cls, **overrides: Any) -> FlyteClient:
        """Build a client from ``FLYTE_*`` environment variables; keyword arguments win."""
        from ._config import settings_from_env

        endpoint, values = settings_from_env(overrides)
        return cls(endpoint, **values)

    def __repr__(self) -> str:
        return f"FlyteClient(endpoint={self.config.endpoint!r}, project={self.project!r}, domain={self.domain!r})"

    async def _make_channel(self) -> Any:
        return await self._channel_config.open()

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        """Close channels and stop the private loop. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for loop, channel in self._rpc.drop_all():
            if loop.is_closed():
                continue
            if loop is self._loop_thread._loop:
                try:
                    self._loop_thread.run(channel.close())
                except Exception:
                    pass
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(channel.close(), loop)
        self._loop_thread.stop()

    async def aclose(self) -> None:
        """Close this loop's channel, and let the shared watcher's idle streams on it finish."""
        from ._watcher import existing_watcher

        watcher = existing_watcher(self.config.key())
        if watcher is not None:
            await watcher.aclose()
        await self._rpc.close()

    def __enter__(self) -> FlyteClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------
    def _scope(self, project: str | None, domain: str | None) -> tuple[str, str]:
        return project or self.project, domain or self.domain

    def run_url(self, run_name: str, *, project: str | None = None, domain: str | None = None, action: str | None = None) -> str:
        """The console URL of a run (action pages add ``?i=<action>``)."""
        project, domain = self._scope(project, domain)
        if self._console_url:
            base = self._console_url.rstrip("/")
            url = f"{base}/v2/domain/{domain}/project/{project}/runs/{run_name}"
            return url + (f"?i={action}" if action else "")
        from ._endpoint import console_url

        return console_url(self.config.endpoint, insecure=self.config.insecure, project=project, domain=domain,
                           run_name=run_name, action=action)

    def _run_id(self, name: str, project: str | None, domain: str | None) -> Any:
        from flyteidl2.common import identifier_pb2

        project, domain = self._scope(project, domain)
        return identifier_pb2.RunIdentifier(org=self.org, project=project, domain=domain, name=name)

    async def _select_cluster(self, operation: str, project: str | None = None, domain: str | None = None) -> None:
        # The official SDK asks before every data-proxy call; an empty endpoint means "same endpoint",
        # which is all this client supports today (a different one raises below).
        from flyteidl2.cluster import payload_pb2
        from flyteidl2.common import identifier_pb2

        project, domain = self._scope(project, domain)
        request = payload_pb2.SelectClusterRequest(
            project_id=identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project),
            operation=payload_pb2.SelectClusterRequest.Operation.Value(operation),
        )
        try:
            response = await self._rpc.call("cluster", "SelectCluster", request, entity=f"project {project}")
        except Exception as exc:  # backends without a ClusterService serve data from the same endpoint
            from ._errors import UnimplementedError

            if isinstance(exc, UnimplementedError):
                return
            raise
        if response.cluster_endpoint and response.cluster_endpoint not in (self.config.endpoint,):
            from ._endpoint import parse_endpoint

            if parse_endpoint(response.cluster_endpoint).target != self._endpoint.target:
                raise ConfigurationError(
                    f"the backend routes {operation} to another cluster endpoint ({response.cluster_endpoint}); "
                    "multi-cluster data planes are not supported by this client yet"
                )

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

        Inputs are checked against the task's interface before anything is sent. With a
        ``name`` that already exists, raises :class:`RunAlreadyExistsError` carrying the
        existing run (whichever way the backend reports it).
        """
        from ._names import check_run_name

        if name is not None:
            check_run_name(name)
        task = task_or_name if isinstance(task_or_name, Task) else await self.get_task.aio(
            task_or_name, version, project=project, domain=domain)
        prepared = task.to_inputs(inputs)
        options = dict(labels=labels, annotations=annotations, envs=envs, overwrite_cache=overwrite_cache,
                       interruptible=interruptible, queue=queue)
        if name is not None:
            try:
                existing = await self.get_run.aio(name, project=project or task.project, domain=domain or task.domain)
            except NotFoundError:
                pass
            else:
                raise RunAlreadyExistsError(existing, entity=f"run {name}")
        return await self.create_run.aio(task, prepared, name=name, project=project or task.project,
                                      domain=domain or task.domain, **options)

    @syncify
    async def create_run(self, task: Task, inputs: Any, *, name: str | None, project: str, domain: str,
                          labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
                          envs: Mapping[str, str] | None = None, overwrite_cache: bool = False,
                          interruptible: bool | None = None, queue: str | None = None) -> Run:
        """Launch already-converted inputs (``task.to_inputs(...)``), the SDK's UploadInputs + CreateRun.

        Unlike :meth:`run` it makes no pre-check read: a named run that turns out to exist
        raises :class:`RunAlreadyExistsError` carrying it.
        """
        from flyteidl2.common import identifier_pb2
        from flyteidl2.core import literals_pb2
        from flyteidl2.dataproxy import dataproxy_service_pb2
        from flyteidl2.task import run_pb2
        from flyteidl2.workflow import run_service_pb2
        from google.protobuf import wrappers_pb2

        project_id = identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project)
        run_id = identifier_pb2.RunIdentifier(org=self.org, project=project, domain=domain, name=name) if name else None
        # Offload the inputs first, as the official SDK does (large inputs never ride on CreateRun).
        await self._select_cluster("OPERATION_UPLOAD_INPUTS", project, domain)
        upload = dataproxy_service_pb2.UploadInputsRequest(task_id=task.task_id, inputs=inputs,
                                                           **({"run_id": run_id} if run_id else {"project_id": project_id}))
        offloaded = (await self._rpc.call("dataproxy", "UploadInputs", upload, entity=f"inputs of {task.name}")).offloaded_input_data

        spec = run_pb2.RunSpec(overwrite_cache=overwrite_cache, queue=queue or "")
        if labels:
            spec.labels.values.update(dict(labels))
        if annotations:
            spec.annotations.values.update(dict(annotations))
        if envs:
            spec.envs.values.extend(literals_pb2.KeyValuePair(key=k, value=str(v)) for k, v in envs.items())
        if interruptible is not None:
            spec.interruptible.CopyFrom(wrappers_pb2.BoolValue(value=interruptible))
        request = run_service_pb2.CreateRunRequest(task_id=task.task_id, offloaded_input_data=offloaded, run_spec=spec,
                                                   **({"run_id": run_id} if run_id else {"project_id": project_id}))
        entity = f"run {name or '(new)'} of {task.name}"
        if not name:
            response = await self._rpc.call("run", "CreateRun", request, entity=entity, idempotent=False)
            return Run(response.run, client=self)
        # A named launch is marked with a launch id, so we can tell our run from one that
        # already had the name: hosted backends answer ALREADY_EXISTS, the open-source one
        # silently returns the existing run. The mark also makes retrying CreateRun safe.
        launch_id = uuid.uuid4().hex
        request.run_spec.labels.values[LAUNCH_LABEL] = launch_id
        try:
            await self._rpc.call("run", "CreateRun", request, entity=entity, idempotent=True)
        except AlreadyExistsError:
            pass
        run = await self.get_run.aio(name, project=project, domain=domain)
        owner = run._details.pb2.run_spec.labels.values.get(LAUNCH_LABEL) if run._details else None
        if owner is not None and owner != launch_id:
            raise RunAlreadyExistsError(run, entity=entity)
        return run

    @syncify
    async def get_run(self, name: str, *, project: str | None = None, domain: str | None = None) -> Run:
        details = await self._run_details(self._run_id(name, project, domain))
        from flyteidl2.workflow import run_definition_pb2

        pb = run_definition_pb2.Run()
        action = details.pb2.action
        pb.action.id.CopyFrom(action.id)
        pb.action.metadata.CopyFrom(action.metadata)
        pb.action.status.CopyFrom(action.status)
        return Run(pb, details, client=self)

    @syncify
    async def list_runs(self, *, project: str | None = None, domain: str | None = None, task_name: str | None = None,
                        limit: int = 100) -> list[Run]:
        from flyteidl2.common import identifier_pb2, list_pb2
        from flyteidl2.task import task_definition_pb2
        from flyteidl2.workflow import run_service_pb2

        project, domain = self._scope(project, domain)

        async def page(token: str, size: int) -> tuple[list[Run], str]:
            request = run_service_pb2.ListRunsRequest(
                org=self.org,
                project_id=identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project),
                request=list_pb2.ListRequest(limit=size, token=token),
            )
            if task_name:
                request.task_name.CopyFrom(task_definition_pb2.TaskName(org=self.org, project=project, domain=domain,
                                                                        name=task_name))
            response = await self._rpc.call("run", "ListRuns", request, entity=f"project {project}/{domain}")
            return [Run(r, client=self) for r in response.runs], response.token

        return await collect_pages(page, limit)

    @syncify
    async def run_to_completion(self, task: Task | str, inputs: Mapping[str, Any] | None = None, *, key: str = "",
                                attempt: int = 1, **options: Any) -> Any:
        """Launch or attach, wait, and return a :class:`RunResult`; see :func:`flyte_remote_core.run_to_completion`."""
        from .orchestration import run_to_completion

        return await run_to_completion(self, task, inputs, key=key, attempt=attempt, **options)

    @syncify
    async def wait_for_result(self, run: Run, **options: Any) -> Any:
        """Wait for a run and return a :class:`RunResult`; see :func:`flyte_remote_core.wait_for_result`."""
        from .orchestration import wait_for_result

        return await wait_for_result(self, run, **options)

    @syncify
    async def launch_or_attach(self, task: Task | str, inputs: Mapping[str, Any] | None = None, *, key: str = "",
                               attempt: int = 1, prefix: str = "r", **options: Any) -> Any:
        """Idempotent launch for orchestrators; see :func:`flyte_remote_core.launch_or_attach`."""
        from .orchestration import launch_or_attach

        return await launch_or_attach(self, task, dict(inputs or {}), key=key, attempt=attempt, prefix=prefix, **options)
