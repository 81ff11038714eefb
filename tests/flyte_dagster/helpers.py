"""Small helpers shared by the Dagster tests."""

from __future__ import annotations

from typing import Any


def create_runs(admin: Any) -> int:
    """CreateRun calls the devserver has answered."""
    return admin.call_count("CreateRun")


def scaffold_flyte_component(sandbox: Any, attributes: dict[str, Any]) -> Any:
    """A ``FlyteTaskComponent`` with these YAML attributes in a Dagster components sandbox; its defs path."""
    from flyte_dagster import FlyteTaskComponent

    return sandbox.scaffold_component(
        component_cls=FlyteTaskComponent,
        defs_yaml_contents={"type": "flyte_dagster.FlyteTaskComponent", "attributes": attributes},
    )
