"""The concrete :class:`~._protocol.Services` of one endpoint, built over one :class:`Rpc`."""

from __future__ import annotations

import ssl

from .._syncify import LoopThread
from .._transport import ClientConfig, Endpoint, Rpc, console_url, run_page_url
from ._catalog import IdentityService, ProjectService, SecretService, TriggerService
from ._data import DataService
from ._runs import RunService
from ._scope import Scope
from ._tasks import TaskService
from ._watcher import SharedWatcher, shared_watcher


class ServiceSet:
    """Every facade over one Rpc; satisfies :class:`~._protocol.Services`."""

    def __init__(
        self,
        rpc: Rpc,
        scope: Scope,
        *,
        config: ClientConfig,
        endpoint: Endpoint,
        loop_thread: LoopThread,
        console_base: str | None = None,
    ) -> None:
        self.rpc = rpc
        self.scope = scope
        self.config = config
        self.loop_thread = loop_thread
        self.runs = RunService(rpc, scope)
        self.tasks = TaskService(rpc, scope)
        self.data = DataService(rpc, scope, endpoint)
        self.projects = ProjectService(rpc, scope)
        self.secrets = SecretService(rpc, scope)
        self.triggers = TriggerService(rpc, scope)
        self.identity = IdentityService(rpc)
        self._console_base = console_base.rstrip("/") if console_base else None

    def watcher(self) -> SharedWatcher:
        return shared_watcher(self.rpc.key, self.rpc.channel_factory)

    def run_url(
        self, run_name: str, *, project: str | None = None, domain: str | None = None, action: str | None = None
    ) -> str:
        project, domain = self.scope.resolve(project, domain)
        if self._console_base:
            return run_page_url(self._console_base, project=project, domain=domain, run_name=run_name, action=action)
        return console_url(
            self.config.endpoint,
            insecure=self.config.insecure,
            project=project,
            domain=domain,
            run_name=run_name,
            action=action,
        )

    def http_verify(self, verify: bool) -> bool | ssl.SSLContext:
        if not verify or self.config.insecure_skip_verify:
            return False
        if self.config.ca_cert_file_path:
            return ssl.create_default_context(cafile=self.config.ca_cert_file_path)
        return True
