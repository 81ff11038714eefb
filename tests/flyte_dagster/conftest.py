"""Dagster integration tests run against the embedded devserver (``flyte_devserver`` fixture)."""

from __future__ import annotations

import pytest

TASK_MODULES = ["tests.devserver.sample_tasks", "tests.flyte_dagster.dagster_tasks"]


@pytest.fixture
def flyte_devserver_tasks() -> list[str]:
    return list(TASK_MODULES)


@pytest.fixture(autouse=True)
def _fresh_interface_cache():
    from flyte_dagster import clear_interface_cache

    clear_interface_cache()
    yield
    clear_interface_cache()


@pytest.fixture
def flyte(flyte_devserver):
    """A FlyteResource pointing at the test's devserver."""
    from flyte_dagster import FlyteResource

    return FlyteResource(endpoint=flyte_devserver.endpoint, insecure=True, project="flytesnacks", domain="development")
