"""Embedded local Flyte 2 backend ("devserver") speaking the real wire protocol.

::

    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["my_tasks"], port=0, data_dir=tmp) as server:
        server.endpoint            # "127.0.0.1:PORT" (gRPC and Connect on one port)
        server.admin.hold("run1")  # test control, see AdminHandle
        client = server.client()   # FlyteClient for project flytesnacks, domain development

CLI: ``flyte-devserver --port 8090 --tasks my_tasks`` (or ``python -m flyte_remote_core.devserver``).
pytest: the ``flyte_devserver`` fixture (installed with the package).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AdminHandle", "DevServer", "task_options"]

if TYPE_CHECKING:
    from ._admin import AdminHandle
    from ._server import DevServer
    from ._tasks import task_options


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. for task_options in a tasks module run by a
    # worker) must not pull in hypercorn, connectrpc and every flyteidl2 service.
    if name == "DevServer":
        from ._server import DevServer

        return DevServer
    if name == "AdminHandle":
        from ._admin import AdminHandle

        return AdminHandle
    if name == "task_options":
        from ._tasks import task_options

        return task_options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
