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

Tasks deployed with the official SDK run in the Python of the project's environment: pass
``pytest --flyte-devserver-sdk-python PATH`` (or the ini option ``flyte_devserver_sdk_python``,
or ``sdk_python`` in the options); without it, the test's own interpreter when it can import
``flyte``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient

    from .admin.handle import AdminHandle
    from .server.devserver import DevServer


def pytest_addoption(parser: pytest.Parser) -> None:
    help_text = "the Python that runs tasks deployed with the official flyte SDK (the flyte_devserver fixture)"
    parser.addoption("--flyte-devserver-sdk-python", default=None, metavar="PATH", help=help_text)
    parser.addini("flyte_devserver_sdk_python", help_text, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "flyte_devserver_tasks(*modules): task modules for the flyte_devserver fixture")
    config.addinivalue_line(
        "markers", "flyte_devserver_options(**kwargs): DevServer options for the flyte_devserver fixture"
    )


@dataclass
class FlyteDevserverFixture:
    server: DevServer
    _client: FlyteClient | None = None

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def admin(self) -> AdminHandle:
        return self.server.admin

    @property
    def client(self) -> FlyteClient:
        if self._client is None:
            self._client = self.server.client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
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
def flyte_devserver(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    flyte_devserver_tasks: list[str],
    flyte_devserver_options: dict[str, Any],
) -> Iterator[FlyteDevserverFixture]:
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
    sdk_python = request.config.getoption("--flyte-devserver-sdk-python") or request.config.getini(
        "flyte_devserver_sdk_python"
    )
    if sdk_python:
        options.setdefault("sdk_python", sdk_python)
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
