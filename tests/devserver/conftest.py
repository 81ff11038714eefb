"""Devserver test fixtures: a devserver with the sample tasks, grpc.aio stubs."""

from __future__ import annotations

import grpc
import pytest

from .helpers import Stubs

SAMPLE_TASKS = "tests.devserver.sample_tasks"


@pytest.fixture
def flyte_devserver_tasks():
    return [SAMPLE_TASKS]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One devserver (sample tasks) shared by a test module; tests use unique run names."""
    from flyte_remote_core.devserver import DevServer

    srv = DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path_factory.mktemp("devserver"))
    srv.start()
    print(f"\ndevserver start-up: {srv.startup_seconds:.3f} s")
    yield srv
    srv.stop()


@pytest.fixture
async def stubs(server):
    channel = grpc.aio.insecure_channel(server.endpoint)
    try:
        yield Stubs(channel)
    finally:
        await channel.close()
