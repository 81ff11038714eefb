"""Wiring of the devserver's ASGI app: every service, its interceptors, the router.

Every Flyte service gets the test-control interceptor (call counters, injected faults)
and, with ``auth=True``, the bearer-token check. The admin API gets the bearer check
only; the in-process ``server.admin`` handle does not go over the wire and needs none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._app import Router
    from ._server import DevServer


def build_app(server: DevServer) -> Router:
    from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
    from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication
    from flyteidl2.cluster.service_connect import ClusterServiceASGIApplication
    from flyteidl2.dataproxy.dataproxy_service_connect import DataProxyServiceASGIApplication
    from flyteidl2.project.project_service_connect import ProjectServiceASGIApplication
    from flyteidl2.secret.secret_connect import SecretServiceASGIApplication
    from flyteidl2.task.task_service_connect import TaskServiceASGIApplication
    from flyteidl2.trigger.trigger_service_connect import TriggerServiceASGIApplication
    from flyteidl2.workflow.run_service_connect import RunServiceASGIApplication

    from ._admin import AdminOps, AdminServiceASGIApplication, AdminServiceImpl
    from ._app import Router
    from ._control import ControlInterceptor
    from ._dataproxy import DataProxyServiceImpl
    from ._misc_services import (
        AuthMetadataFallback,
        ClusterServiceImpl,
        IdentityFallback,
        ProjectServiceImpl,
        SecretServiceImpl,
    )
    from ._runs import RunServiceImpl
    from ._scheduler import Scheduler, TriggerServiceImpl
    from ._task_service import TaskServiceImpl
    from ._uploads import UploadSigner, handle_storage

    engine = server._engine
    interceptors: list = [ControlInterceptor(server._control)]
    oauth2 = None
    # The admin API is not a Flyte service: no fault injection or counting (a test must be
    # able to call it while faults are armed), but with --auth it needs a token like the rest.
    admin_ic: tuple = ()
    if server.auth:
        from ._auth import AuthManager

        server.auth_manager = AuthManager(base_url=server.url)
        bearer = server.auth_manager.server_interceptor()
        interceptors.append(bearer)
        admin_ic = (bearer,)
        oauth2 = server.auth_manager.token_endpoint
    server._scheduler = Scheduler(engine)
    signer = UploadSigner(server.data_dir)
    ic = tuple(interceptors)
    apps = [
        RunServiceASGIApplication(RunServiceImpl(engine), interceptors=ic),
        TaskServiceASGIApplication(TaskServiceImpl(engine, on_deploy=server._scheduler.deploy_task_triggers), interceptors=ic),
        DataProxyServiceASGIApplication(DataProxyServiceImpl(engine, signer, lambda: server.url), interceptors=ic),
        ClusterServiceASGIApplication(ClusterServiceImpl(), interceptors=ic),
        ProjectServiceASGIApplication(ProjectServiceImpl(engine), interceptors=ic),
        SecretServiceASGIApplication(SecretServiceImpl(engine), interceptors=ic),
        TriggerServiceASGIApplication(TriggerServiceImpl(engine, server._scheduler), interceptors=ic),
        AdminServiceASGIApplication(AdminServiceImpl(AdminOps(server)), interceptors=admin_ic),
    ]
    if server.auth:
        apps.append(AuthMetadataServiceASGIApplication(
            server.auth_manager.auth_metadata_service(), interceptors=(ControlInterceptor(server._control),)))
        apps.append(IdentityServiceASGIApplication(server.auth_manager.identity_service(), interceptors=ic))
    else:
        apps.append(AuthMetadataServiceASGIApplication(AuthMetadataFallback(lambda: server.url), interceptors=ic))
        apps.append(IdentityServiceASGIApplication(IdentityFallback(), interceptors=ic))
    return Router(
        {app.path: app for app in apps},
        storage=lambda scope, receive, send: handle_storage(signer, scope, receive, send),
        oauth2=oauth2,
        on_startup=server._ready.set,
    )
