"""``FlyteTaskComponent``: Flyte-backed assets (and sensors of external runs) declared in a ``defs.yaml``."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from ._assets import build_flyte_asset
from ._resource import FlyteResource
from ._sensor import build_flyte_run_sensor

__all__ = ["FlyteRunSensorSpec", "FlyteTaskComponent"]


class FlyteRunSensorSpec(dg.Model, dg.Resolvable):
    """One ``sensors:`` entry of a :class:`FlyteTaskComponent`: a :func:`~flyte_dagster.build_flyte_run_sensor`."""

    asset_key: str | None = Field(
        default=None, description="Asset key to record ('a/b' for a multi-part key); default: the component's asset."
    )
    task_name: str | None = Field(default=None, description="Flyte task whose runs are watched; default: `task`.")
    phases: list[str] = Field(
        default_factory=lambda: ["SUCCEEDED"], description="Phases reported (SUCCEEDED, FAILED, ABORTED, TIMED_OUT)."
    )
    project: str | None = Field(default=None, description="Default: the component's project, else the resource's.")
    domain: str | None = Field(default=None, description="Default: the component's domain, else the resource's.")
    minimum_interval_seconds: int = 30
    name: str | None = Field(default=None, description="Sensor name (default: flyte_runs_<asset key>).")
    description: str | None = None
    running: bool = Field(default=False, description="Start the sensor as running (DefaultSensorStatus.RUNNING).")


class FlyteTaskComponent(dg.Component, dg.Model, dg.Resolvable):
    """Materialize asset(s) from the outputs of a deployed Flyte task.

    .. code-block:: yaml

        type: flyte_dagster.FlyteTaskComponent
        attributes:
          task: tasks.add
          key: total
          inputs: {x: 1}
          ins: {y: base}             # asset `base` feeds task input `y`
          interface:                 # optional: skips the (once per load) interface lookup
            inputs: {x: int, y: int}
            outputs: [o0]
          sensors:                   # optional: record runs of the task launched outside Dagster
            - phases: [SUCCEEDED]    # asset_key (default: `key`), task_name (default: `task`), name, ...

    Connection settings come from the ``FLYTE_*`` environment variables at run time, from a
    resource bound to ``resource_key`` elsewhere in the project, or from ``connection``
    (keep secrets in ``FLYTE_API_KEY``/``FLYTE_CLIENT_SECRET`` rather than in YAML).
    """

    task: str = Field(description="Name of the deployed Flyte task, e.g. 'tasks.add'.")
    key: str | None = Field(
        default=None, description="Asset key ('a/b' for a multi-part key); default: the task's function name."
    )
    inputs: dict[str, Any] | None = Field(default=None, description="Static task inputs (run config can override).")
    ins: dict[str, str] | None = Field(
        default=None, description="Task input name -> upstream asset key whose value feeds it."
    )
    deps: list[str] | None = Field(default=None, description="Upstream asset keys this asset depends on (no value).")
    partition_input: str | None = Field(default=None, description="Task input that receives the partition key.")
    static_partitions: list[str] | None = Field(default=None, description="Static partition keys.")
    daily_partitions_start: str | None = Field(default=None, description="Start date of daily partitions (YYYY-MM-DD).")
    version: str | None = Field(default=None, description="Task version (default: latest).")
    project: str | None = None
    domain: str | None = None
    resource_key: str = "flyte"
    interface: dict[str, Any] | None = Field(
        default=None,
        description="Declared interface: {inputs: {name: type}, outputs: [names], optional_inputs: [names]}.",
    )
    output_keys: dict[str, str] | None = Field(
        default=None, description="Output name -> asset key, for tasks with several outputs."
    )
    group_name: str | None = None
    description: str | None = None
    tags: dict[str, str] | None = None
    kinds: list[str] | None = None
    connection: dict[str, Any] | None = Field(
        default=None,
        description="FlyteResource fields (endpoint, project, "
        "domain, insecure, ...); binds a resource under resource_key.",
    )
    sensors: list[FlyteRunSensorSpec] | None = Field(
        default=None,
        description="Sensors recording runs launched outside Dagster as materializations (build_flyte_run_sensor).",
    )

    def _partitions(self) -> dg.PartitionsDefinition | None:
        if self.static_partitions and self.daily_partitions_start:
            raise dg.DagsterInvalidDefinitionError(
                "FlyteTaskComponent: give static_partitions or daily_partitions_start, not both"
            )
        if self.static_partitions:
            return dg.StaticPartitionsDefinition(list(self.static_partitions))
        if self.daily_partitions_start:
            return dg.DailyPartitionsDefinition(start_date=self.daily_partitions_start)
        return None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        resource = FlyteResource(**self.connection) if self.connection else None
        asset = build_flyte_asset(
            self.task,
            key=dg.AssetKey.from_user_string(self.key) if self.key else None,
            ins={name: dg.AssetKey.from_user_string(k) for name, k in (self.ins or {}).items()},
            inputs=self.inputs,
            deps=[dg.AssetKey.from_user_string(k) for k in (self.deps or [])],
            partition_input=self.partition_input,
            partitions_def=self._partitions(),
            version=self.version,
            project=self.project,
            domain=self.domain,
            resource_key=self.resource_key,
            interface=self.interface,
            output_keys={o: dg.AssetKey.from_user_string(k) for o, k in (self.output_keys or {}).items()} or None,
            group_name=self.group_name,
            description=self.description,
            tags=self.tags,
            kinds=set(self.kinds) if self.kinds else None,
            resource=resource,
        )
        return dg.Definitions(
            assets=[asset],
            sensors=self._sensors(),
            resources={self.resource_key: resource} if resource else {},
        )

    def _sensors(self) -> list[dg.SensorDefinition]:
        # The asset's default key (the task's function name) when a sensor names none.
        default_key = self.key or self.task.rsplit(".", 1)[-1]
        return [
            build_flyte_run_sensor(
                dg.AssetKey.from_user_string(spec.asset_key or default_key),
                spec.task_name or self.task,
                project=spec.project or self.project,
                domain=spec.domain or self.domain,
                resource_key=self.resource_key,
                phases=spec.phases,
                minimum_interval_seconds=spec.minimum_interval_seconds,
                name=spec.name,
                description=spec.description,
                default_status=dg.DefaultSensorStatus.RUNNING if spec.running else dg.DefaultSensorStatus.STOPPED,
            )
            for spec in self.sensors or ()
        ]
