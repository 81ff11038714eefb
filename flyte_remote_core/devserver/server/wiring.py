"""Wiring: the devserver's parts, assembled from its configuration.

:func:`assemble` builds the state side before the port is bound (store, hub, test
control, task registry, engine; projects seeded, a dead process's live actions counted,
``--tasks`` deployed). :func:`build_frontend` builds what the wire sees once the
address is known: every service with its interceptors, the admin API, auth, the console, the
router.

Every Flyte service gets the test-control interceptor (call counters, injected faults)
and, with ``auth=True``, the bearer-token check. The admin API gets the bearer check
only; the in-process ``server.admin`` handle does not go over the wire and needs none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication
from flyteidl2.cluster.service_connect import ClusterServiceASGIApplication
from flyteidl2.dataproxy.dataproxy_service_connect import DataProxyServiceASGIApplication
from flyteidl2.imagebuilder.service_connect import ImageServiceASGIApplication
from flyteidl2.project.project_service_connect import ProjectServiceASGIApplication
from flyteidl2.secret.secret_connect import SecretServiceASGIApplication
from flyteidl2.task.task_service_connect import TaskServiceASGIApplication
from flyteidl2.trigger.trigger_service_connect import TriggerServiceASGIApplication
from flyteidl2.workflow.queue_service_connect import QueueServiceASGIApplication
from flyteidl2.workflow.run_service_connect import RunServiceASGIApplication
from flyteidl2.workflow.state_service_connect import StateServiceASGIApplication

from ..admin.control import Control, ControlInterceptor
from ..admin.ops import AdminOps
from ..admin.service import AdminServiceASGIApplication, AdminServiceImpl
from ..auth.manager import AuthManager
from ..console.app import ConsoleApp
from ..console.state import ConsoleState
from ..engine.engine import Engine
from ..engine.events import Hub
from ..engine.model import log
from ..engine.store import Store, prepare_data_dir
from ..execution.dispatch import Dispatch
from ..execution.interface import Runner
from ..execution.pool import Executor
from ..execution.registry import TaskRegistry
from ..execution.sdk.python import resolve_sdk_python
from ..execution.sdk.runner import SdkRunner
from ..services.auth_metadata import AuthMetadataFallback
from ..services.cluster import ClusterServiceImpl
from ..services.dataproxy import DataProxyServiceImpl
from ..services.identity import IdentityFallback
from ..services.images import ImageServiceImpl
from ..services.projects import ProjectServiceImpl
from ..services.queue import QueueServiceImpl
from ..services.runs import RunServiceImpl
from ..services.secrets import SecretServiceImpl
from ..services.state import StateServiceImpl
from ..services.tasks import TaskServiceImpl
from ..services.triggers import TriggerServiceImpl
from ..services.uploads import UploadSigner, handle_storage
from .app import Router
from .config import ServerConfig


@dataclass
class Backend:
    """The state side of one devserver."""

    store: Store
    hub: Hub
    control: Control
    registry: TaskRegistry
    engine: Engine
    endpoint: list[str]  # [the address task runtimes call back], set once the port is bound

    def close(self) -> None:
        self.store.close()


@dataclass
class Frontend:
    """What the wire sees: the router, the admin operations, and auth when it is on."""

    router: Router
    admin: AdminOps
    auth: AuthManager | None


def make_runner(config: ServerConfig, endpoint: list[str]) -> Runner:
    """Functions of --tasks modules to the worker pool, deployed Flyte specs to the SDK runner."""
    python = resolve_sdk_python(config.sdk_python)
    if python.available:
        log.info("devserver: deployed Flyte tasks run with %s", python.path)
    sdk = SdkRunner(python, endpoint=lambda: endpoint[0], workers=config.workers)
    return Dispatch(Executor(workers=config.workers), sdk)


def assemble(config: ServerConfig) -> Backend:
    store = Store(prepare_data_dir(config.data_dir) / "devserver.db")
    endpoint = [""]
    try:
        hub = Hub()
        registry = TaskRegistry()
        engine = Engine(
            store, hub, config.data_dir, registry=registry,
            make_runner=lambda: make_runner(config, endpoint), duplicate_run_names=config.duplicate_run_names,
        )  # fmt: skip
        live = engine.prepare(config.project)
        if live:
            log.info("devserver: %d action(s) left unfinished by a previous process will be resumed", live)
        engine.catalog.deploy_local_tasks(config.project, config.domain, registry.load(config.tasks))
    except BaseException:
        store.close()
        raise
    return Backend(store=store, hub=hub, control=Control(), registry=registry, engine=engine, endpoint=endpoint)


def build_frontend(
    backend: Backend, config: ServerConfig, *, url: str, endpoint: str, on_startup: Callable[[], None]
) -> Frontend:
    engine = backend.engine
    backend.endpoint[0] = endpoint
    interceptors: list[Any] = [ControlInterceptor(backend.control)]
    # The admin API is not a Flyte service: no fault injection or counting (a test must be
    # able to call it while faults are armed), but with --auth it needs a token like the rest.
    admin_ic: tuple[Any, ...] = ()
    auth = AuthManager(base_url=url) if config.auth else None
    if auth is not None:
        bearer = auth.server_interceptor()
        interceptors.append(bearer)
        admin_ic = (bearer,)
    ic = tuple(interceptors)
    signer = UploadSigner(config.data_dir, max_upload_bytes=config.max_upload_bytes)
    admin = AdminOps(
        holds=engine.holds, attempts=engine.attempts, actions=engine.actions, control=backend.control,
        hub=backend.hub, data_dir=str(config.data_dir), endpoint=endpoint,
    )  # fmt: skip
    runs = RunServiceImpl(engine.runs, engine.actions, engine.attempts, engine.catalog, backend.hub)
    dataproxy = DataProxyServiceImpl(
        engine.catalog, engine.actions, engine.attempts, backend.hub,
        inputs=engine.inputs, signer=signer, base_url=url,
    )  # fmt: skip
    apps: list[Any] = [
        RunServiceASGIApplication(runs, interceptors=ic),
        TaskServiceASGIApplication(
            TaskServiceImpl(engine.catalog, on_deploy=engine.triggers.deploy_task_triggers), interceptors=ic
        ),
        DataProxyServiceASGIApplication(dataproxy, interceptors=ic),
        ClusterServiceASGIApplication(ClusterServiceImpl(), interceptors=ic),
        ProjectServiceASGIApplication(ProjectServiceImpl(engine.catalog), interceptors=ic),
        SecretServiceASGIApplication(SecretServiceImpl(engine.secrets), interceptors=ic),
        TriggerServiceASGIApplication(TriggerServiceImpl(engine.triggers), interceptors=ic),
        AdminServiceASGIApplication(AdminServiceImpl(admin), interceptors=admin_ic),
        # What a running task's runtime calls: nested actions, their states; images "exist".
        QueueServiceASGIApplication(
            QueueServiceImpl(engine.children, engine.actions, engine.attempts), interceptors=ic
        ),
        StateServiceASGIApplication(StateServiceImpl(engine.actions, engine.attempts, backend.hub), interceptors=ic),
        ImageServiceASGIApplication(ImageServiceImpl(), interceptors=ic),
    ]
    if auth is not None:
        # AuthMetadataService is public (callers need it to get a token): counted, never checked.
        apps.append(AuthMetadataServiceASGIApplication(
            auth.auth_metadata_service(), interceptors=(ControlInterceptor(backend.control),)))  # fmt: skip
        apps.append(IdentityServiceASGIApplication(auth.identity_service(), interceptors=ic))
    else:
        apps.append(AuthMetadataServiceASGIApplication(AuthMetadataFallback(url), interceptors=ic))
        apps.append(IdentityServiceASGIApplication(IdentityFallback(), interceptors=ic))

    async def storage(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await handle_storage(signer, scope, receive, send)

    router = Router(
        {app.path: app for app in apps},
        storage=storage,
        oauth2=auth.token_endpoint if auth is not None else None,
        # The console reads what RunService reads, behind the same bearer check as the API.
        console=ConsoleApp(
            ConsoleState(engine.actions, engine.attempts), check=auth.check if auth is not None else None
        ),
        on_startup=on_startup,
    )
    return Frontend(router=router, admin=admin, auth=auth)
