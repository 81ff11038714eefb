"""Dagster integration for Flyte 2: resources, ops, assets and a YAML component backed by Flyte runs.

::

    import dagster as dg
    from flyte_dagster import FlyteResource, build_flyte_asset

    total = build_flyte_asset("tasks.add", key="total", inputs={"x": 1, "y": 2})

    @dg.asset
    def doubled(total: int) -> int:          # the Flyte output, as a value
        return 2 * total

    defs = dg.Definitions(assets=[total, doubled], resources={"flyte": FlyteResource()})

``build_flyte_run_sensor("total", "tasks.add")`` records the runs of ``tasks.add`` launched
outside Dagster (console, CLI, Flyte triggers) as materializations of ``total``.

Built on ``flyte_remote_core``: idempotent launch-or-attach, waiting through the shared
watcher, typed outputs, abort on termination.
"""

from ._assets import build_flyte_asset
from ._component import FlyteRunSensorSpec, FlyteTaskComponent
from ._interface import FlyteInputSpec, FlyteOutputSpec, FlyteTaskInterface, clear_interface_cache
from ._ops import build_flyte_op
from ._resource import FlyteResource, flyte_resource
from ._results import METADATA_PREFIX, FlyteRunResult
from ._sensor import build_flyte_run_sensor
from ._translator import DagsterFlyteTranslator, FlyteTaskSelector, load_flyte_asset_specs

__all__ = [
    "METADATA_PREFIX",
    "DagsterFlyteTranslator",
    "FlyteInputSpec",
    "FlyteOutputSpec",
    "FlyteResource",
    "FlyteRunResult",
    "FlyteRunSensorSpec",
    "FlyteTaskComponent",
    "FlyteTaskInterface",
    "FlyteTaskSelector",
    "build_flyte_asset",
    "build_flyte_op",
    "build_flyte_run_sensor",
    "clear_interface_cache",
    "flyte_resource",
    "load_flyte_asset_specs",
]
