"""pytest plugin (entry point ``pytest11``): the ``flyte_devserver`` fixture.

::

    def test_my_dag(flyte_devserver):
        flyte_devserver.endpoint     # "127.0.0.1:PORT"
        flyte_devserver.client       # a ready FlyteClient (project flytesnacks, domain development), closed after
        flyte_devserver.admin        # test control: hold/release runs, fail_next, drop_streams, counters
        flyte_devserver.server       # the DevServer

Tasks: none by default. Choose modules per test with a marker, or for a whole folder by
overriding the ``flyte_devserver_tasks`` fixture in a ``conftest.py``::

    @pytest.mark.flyte_devserver_tasks("my_pkg.tasks")
    def test_x(flyte_devserver): ...

    @pytest.fixture
    def flyte_devserver_tasks():
        return ["my_pkg.tasks"]

Other options come from the ``flyte_devserver_options`` fixture (a dict of DevServer
keyword arguments, e.g. ``{"duplicate_run_names": "already-exists"}``) or the marker
``@pytest.mark.flyte_devserver_options(auth=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "flyte_devserver_tasks(*modules): task modules for the flyte_devserver fixture")
    config.addinivalue_line("markers", "flyte_devserver_options(**kwargs): DevServer options for the flyte_devserver fixture")


@dataclass
class FlyteDevserverFixture:
    server: Any
    _client: Any = None

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def admin(self):
        return self.server.admin

    @property
    def client(self):
        if self._client is None:
            self._client = self.server.client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None


@pytest.fixture
def flyte_devserver_tasks() -> list[str]:
    """Task modules registered in the fixture's devserver (override in a conftest.py)."""
    return []


@pytest.fixture
def flyte_devserver_options() -> dict[str, Any]:
    """Extra DevServer keyword arguments (override in a conftest.py)."""
    return {}


@pytest.fixture
def flyte_devserver(request, tmp_path_factory, flyte_devserver_tasks, flyte_devserver_options):
    """A devserver on a free port in a temp folder, started for this test and stopped after."""
    from flyte_remote_core.devserver import DevServer

    tasks = list(flyte_devserver_tasks)
    marker = request.node.get_closest_marker("flyte_devserver_tasks")
    if marker is not None:
        tasks = list(marker.args)
    options = dict(flyte_devserver_options)
    opt_marker = request.node.get_closest_marker("flyte_devserver_options")
    if opt_marker is not None:
        options.update(opt_marker.kwargs)
    options.setdefault("port", 0)
    options.setdefault("host", "127.0.0.1")
    data_dir = options.pop("data_dir", None) or tmp_path_factory.mktemp("flyte-devserver")
    server = DevServer(tasks=tasks, data_dir=data_dir, **options)
    server.start()
    handle = FlyteDevserverFixture(server)
    try:
        yield handle
    finally:
        handle.close()
        server.stop()
