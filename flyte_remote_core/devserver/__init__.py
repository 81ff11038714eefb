"""Embedded local Flyte 2 backend ("devserver") speaking the real wire protocol.

::

    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["my_tasks"], port=0, data_dir=tmp) as server:
        server.endpoint            # "127.0.0.1:PORT" (gRPC and Connect on one port)
        server.admin.hold("run1")  # test control, see AdminHandle
        client = server.client()   # FlyteClient for project flytesnacks, domain development

CLI: ``flyte-devserver --port 8090 --tasks my_tasks`` (or ``python -m flyte_remote_core.devserver``).
pytest: the ``flyte_devserver`` fixture (installed with the package).

The names above, ``pytest_plugin`` and the CLI are the public surface; the sub-packages
are the devserver's rooms, each importing only those below it::

    server      the ASGI app, the wiring, the DevServer lifecycle, the CLI
    services    one module per flyteidl2 service        admin   test control (admin API)
    engine      state, the run/action state machine     auth    --auth: tokens, API keys
    execution   how a task runs: registry, worker pool
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AdminHandle", "DevServer", "task_options"]

if TYPE_CHECKING:
    from .admin.handle import AdminHandle
    from .execution.options import task_options
    from .server.devserver import DevServer


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. for task_options in a tasks module run by a
    # worker) must not pull in hypercorn, connectrpc and every flyteidl2 service.
    if name == "DevServer":
        from .server.devserver import DevServer

        return DevServer
    if name == "AdminHandle":
        from .admin.handle import AdminHandle

        return AdminHandle
    if name == "task_options":
        from .execution.options import task_options

        return task_options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
