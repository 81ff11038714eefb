"""``build_flyte_op``: a Dagster op that runs a deployed Flyte task and outputs its values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import OpExecutionContext  # by this name: Dagster reads the annotation as text

from ._interface import FlyteTaskInterface, resolve_interface

if TYPE_CHECKING:
    from ._resource import FlyteResource

__all__ = ["build_flyte_op"]

INPUTS_CONFIG = {
    "inputs": dg.Field(
        dg.Permissive(),  # type: ignore[no-untyped-call]
        is_required=False,
        default_value={},
        description="Task inputs that override the static inputs given in code.",
    )
}


def definition_name(task_name: str) -> str:
    """A valid Dagster name from a task name (``tasks.add`` -> ``tasks__add``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", task_name.replace(".", "__"))
    return name if name and not name[0].isdigit() else f"t_{name}"


def merged_inputs(context: Any, static: Mapping[str, Any], upstream: Mapping[str, Any]) -> dict[str, Any]:
    """Static inputs, overridden by run config, then by upstream values (None = leave to the task default)."""
    config = getattr(context, "op_execution_context", context).op_config or {}
    values = {**static, **dict(config.get("inputs") or {})}
    values.update({k: v for k, v in upstream.items() if v is not None})
    return values


def build_flyte_op(
    task_name: str,
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    version: str | None = None,
    resource_key: str = "flyte",
    interface: FlyteTaskInterface | Mapping[str, Any] | None = None,
    output_types: Mapping[str, Any] | None = None,
    project: str | None = None,
    domain: str | None = None,
    resource: FlyteResource | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    run_options: Mapping[str, Any] | None = None,
) -> dg.OpDefinition:
    """An op running ``task_name``: one ``In`` per task input not in ``inputs`` (plus
    ``start_after: Nothing``), one ``Out`` per task output (``o0``, ``o1``, ...) carrying
    the Python value, with the run's ``dagster-flyte/`` metadata.

    The task interface comes from ``interface`` (no backend call) or is looked up once
    per definitions load through ``resource`` (default: the ``FLYTE_*`` variables) and
    replayed to run workers from Dagster's reconstruction metadata.
    ``output_types`` (``{"o0": MyDataclass}``) rebuilds struct outputs as instances; the
    ``Out`` then type-checks against that class. Inputs with a remote default are optional
    ``In``\\ s (unconnected or None means "use the task's default").
    """
    iface = resolve_interface(
        task_name,
        interface,
        resource=resource,
        version=version,
        project=project,
        domain=domain,
        output_types=output_types,
    )
    static = dict(inputs or {})
    iface.check_inputs(list(static), what="inputs")
    if "start_after" in iface.input_names:
        raise dg.DagsterInvalidDefinitionError(
            f"Flyte task {task_name!r} has an input named 'start_after', which build_flyte_op reserves for ordering"
        )
    ins: dict[str, dg.In] = {}
    for spec in iface.inputs:
        if spec.name in static:
            continue
        kind: Any = spec.python_type if spec.python_type is not None else Any
        if spec.required:
            ins[spec.name] = dg.In(kind, description=f"Flyte input ({spec.type})")
        else:
            ins[spec.name] = dg.In(
                kind | None if kind is not Any else Any,
                default_value=None,
                description=f"Flyte input ({spec.type}, optional: the task has a default)",
            )
    ins["start_after"] = dg.In(dg.Nothing)
    outs = {
        o.name: dg.Out(o.python_type if o.python_type is not None else Any, description=f"Flyte output ({o.type})")
        for o in iface.outputs
    }
    types = iface.output_types()
    options = dict(run_options or {})

    def _flyte_op(context: OpExecutionContext, **upstream: Any) -> Any:
        flyte = getattr(context.resources, resource_key)
        values = merged_inputs(context, static, upstream)
        result = flyte.run_task(
            context, task_name, values, version=version, output_types=types, project=project, domain=domain, **options
        )
        for out in iface.outputs:
            yield dg.Output(result.outputs.get(out.name), output_name=out.name, metadata=result.metadata)
        if not iface.outputs:
            context.log.info(f"Flyte run {result.run_name} succeeded: {result.url}")

    # The annotation is text (``from __future__ import annotations``) and Dagster compares it with
    # the class itself: hand it the class.
    _flyte_op.__annotations__["context"] = OpExecutionContext
    decorate = dg.op(
        name=name or definition_name(task_name),
        description=description or iface.description or f"Runs the Flyte task {task_name}.",
        ins=ins,
        out=outs,
        config_schema=INPUTS_CONFIG,
        required_resource_keys={resource_key},
        tags={"dagster-flyte/task": task_name, **(tags or {})},
        retry_policy=retry_policy,
    )
    return decorate(_flyte_op)
