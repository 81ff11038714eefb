"""Services: a typed facade per ``flyteidl2`` service, the shared watcher and uploads.

Each facade takes and returns ``flyteidl2`` messages and makes its calls through the one
:class:`~flyte_remote_core._transport.Rpc`. Records and the client depend on the
:class:`Services` protocol; :class:`ServiceSet` is the implementation.
"""

from __future__ import annotations

from ._catalog import IdentityService, ProjectService, SecretService, TriggerService
from ._data import DataService
from ._protocol import Services
from ._runs import RunService
from ._scope import Scope
from ._set import ServiceSet
from ._tasks import TaskService
from ._upload import upload_dir, upload_file
from ._watcher import SharedWatcher, existing_watcher, shared_watcher

__all__ = [
    "DataService",
    "IdentityService",
    "ProjectService",
    "RunService",
    "Scope",
    "SecretService",
    "ServiceSet",
    "Services",
    "SharedWatcher",
    "TaskService",
    "TriggerService",
    "existing_watcher",
    "shared_watcher",
    "upload_dir",
    "upload_file",
]
