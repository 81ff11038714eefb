import pytest


@pytest.fixture
def flyte_devserver_tasks() -> list[str]:
    return ["tests.devserver.sample_tasks"]
