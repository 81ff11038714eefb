"""What the records and the client need from the services: one typed seam.

Records (``Run``, ``Task``, ...) hold a :class:`Services` and never a client, so the layer
above (the client) composes them and nothing below reaches back up.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .._syncify import LoopThread
    from ._catalog import IdentityService, ProjectService, SecretService, TriggerService
    from ._data import DataService
    from ._runs import RunService
    from ._scope import Scope
    from ._tasks import TaskService
    from ._watcher import SharedWatcher


class Services(Protocol):
    """The per-service facades of one endpoint, plus what calls need around them."""

    scope: Scope
    runs: RunService
    tasks: TaskService
    data: DataService
    projects: ProjectService
    secrets: SecretService
    triggers: TriggerService
    identity: IdentityService
    loop_thread: LoopThread

    def watcher(self) -> SharedWatcher:
        """The process-wide shared watcher for this endpoint on the running event loop."""
        ...

    def run_url(
        self, run_name: str, *, project: str | None = None, domain: str | None = None, action: str | None = None
    ) -> str:
        """The console URL of a run (action pages add ``?i=<action>``)."""
        ...

    def http_verify(self, verify: bool) -> bool | ssl.SSLContext:
        """TLS verification for HTTP calls (signed URLs), from the channel's settings."""
        ...
