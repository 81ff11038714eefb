"""Small helpers shared by the Dagster tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def create_runs(admin: Any) -> int:
    """CreateRun calls the devserver has answered."""
    return admin.call_count("CreateRun")


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def scaffold_flyte_component(sandbox: Any, attributes: dict[str, Any]) -> Any:
    """A ``FlyteTaskComponent`` with these YAML attributes in a Dagster components sandbox; its defs path."""
    from flyte_dagster import FlyteTaskComponent

    return sandbox.scaffold_component(
        component_cls=FlyteTaskComponent,
        defs_yaml_contents={"type": "flyte_dagster.FlyteTaskComponent", "attributes": attributes},
    )
