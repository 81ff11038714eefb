"""``build_flyte_asset``: assets whose values are the outputs of a Flyte task run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import AssetExecutionContext  # by this name: Dagster reads the annotation as text

from ._interface import FlyteTaskInterface, check_lazy_inputs, resolve_interface
from ._ops import INPUTS_CONFIG, definition_name, merged_inputs
from ._results import METADATA_PREFIX

if TYPE_CHECKING:
    from ._resource import FlyteResource

__all__ = ["build_flyte_asset"]


def build_flyte_asset(
    task_name: str,
    *,
    key: dg.CoercibleToAssetKey | None = None,
    ins: Mapping[str, dg.CoercibleToAssetKey] | None = None,
    inputs: Mapping[str, Any] | None = None,
    deps: Sequence[dg.CoercibleToAssetKey | dg.AssetsDefinition | dg.AssetSpec] | None = None,
    partition_input: str | None = None,
    version: str | None = None,
    resource_key: str = "flyte",
    interface: FlyteTaskInterface | Mapping[str, Any] | str | None = None,
    output_types: Mapping[str, Any] | None = None,
    output_keys: Mapping[str, dg.CoercibleToAssetKey] | None = None,
    name: str | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    group_name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    kinds: set[str] | None = None,
    owners: Sequence[str] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    project: str | None = None,
    domain: str | None = None,
    resource: FlyteResource | None = None,
    run_options: Mapping[str, Any] | None = None,
) -> dg.AssetsDefinition:
    """An asset (or a subsettable multi-asset, one spec per task output) materialized by a Flyte run.

    * ``ins={"x": "base"}`` feeds the value of asset ``base`` to task input ``x``;
    * ``inputs`` gives static values, overridable by run config
      (``ops: {<name>: {config: {inputs: {...}}}}``);
    * ``partition_input="day"`` passes the partition key as input ``day``;
    * the task output becomes the asset value (``MaterializeResult(value=...)``), so
      downstream assets receive it through the IO manager; ``output_types`` rebuilds
      dataclass/pydantic outputs as instances.

    The asset key defaults to the task's function name (``tasks.add`` -> ``add``). With
    several outputs, keys are ``output_keys[o]`` or ``key/o0``, ``key/o1``, ... The
    interface is declared (``interface=``), read from the snapshot file, or looked up once per
    definitions load, batched (see :mod:`flyte_dagster._interface`). Unknown input names fail
    here, naming the task and input. With ``interface="lazy"``, or when no backend is
    configured or reachable while definitions load, the asset is built from the names given
    here (one output, or those of ``output_keys``); the interface is fetched when the asset
    runs, and the input names are checked then, before anything is launched.
    """
    static = dict(inputs or {})
    upstream = {n: dg.AssetKey.from_coercible(k) for n, k in (ins or {}).items()}
    given_names = [*static, *upstream, *([partition_input] if partition_input else [])]
    iface = resolve_interface(
        task_name,
        interface,
        resource=resource,
        version=version,
        project=project,
        domain=domain,
        output_types=output_types,
        given_inputs=given_names,
        output_names=list(output_keys) if output_keys else None,
    )
    iface.check_inputs(list(static), what="inputs")
    iface.check_inputs(list(upstream), what="ins")
    if partition_input is not None:
        iface.check_inputs([partition_input], what="partition_input")
        if partitions_def is None:
            raise dg.DagsterInvalidDefinitionError(
                f"Flyte task {task_name!r}: partition_input={partition_input!r} needs a partitions_def"
            )
    given = set(static) | set(upstream) | ({partition_input} if partition_input else set())
    missing = [i.name for i in iface.inputs if i.required and i.name not in given]
    if missing:
        raise dg.DagsterInvalidDefinitionError(
            f"Flyte task {task_name!r}: required input(s) {missing} are not given through ins, inputs or "
            "partition_input"
        )

    base = dg.AssetKey.from_coercible(key) if key is not None else dg.AssetKey(task_name.rsplit(".", 1)[-1])
    outputs = list(iface.outputs)
    unknown = set(output_keys or {}) - {o.name for o in outputs}
    if unknown:
        raise dg.DagsterInvalidDefinitionError(
            f"Flyte task {task_name!r}: output_keys names unknown output(s) {sorted(unknown)}; outputs are "
            f"{iface.output_names}"
        )
    keyed: list[tuple[str | None, dg.AssetKey]]
    if len(outputs) <= 1:
        keyed = [(outputs[0].name if outputs else None, base)]
    else:
        keyed = [
            (o.name, dg.AssetKey.from_coercible((output_keys or {}).get(o.name) or [*base.path, o.name]))
            for o in outputs
        ]

    spec_deps = list(deps or ())
    spec_metadata = {f"{METADATA_PREFIX}task": task_name, **(metadata or {})}
    type_names = {o.name: o.type for o in outputs}
    specs = [
        dg.AssetSpec(
            key=asset_key,
            deps=spec_deps,
            description=description or iface.description or f"Output {out or '(none)'} of the Flyte task {task_name}.",
            metadata={**spec_metadata, **({f"{METADATA_PREFIX}output": f"{out} ({type_names[out]})"} if out else {})},
            group_name=group_name,
            tags=tags,
            kinds=kinds if kinds is not None else {"flyte"},
            owners=owners,
            skippable=len(keyed) > 1,
        )
        for out, asset_key in keyed
    ]
    types = iface.output_types()
    # AssetOut (not bare specs) so the outputs carry values, typed when the Python type is known.
    out_names = [(out if len(keyed) > 1 else None) or "result" for out, _ in keyed]
    outs = {
        out_name: dg.AssetOut.from_spec(
            spec, dagster_type=(types.get(out) or Any) if out else dg.Nothing, is_required=len(specs) == 1
        )
        for out_name, (out, _), spec in zip(out_names, keyed, specs, strict=True)
    }
    options = dict(run_options or {})
    # One Dagster input per upstream asset (several task inputs may read the same asset).
    param_of = {k: f"upstream_{k.to_python_identifier()}" for k in upstream.values()}
    asset_ins = {param: dg.AssetIn(key=k) for k, param in param_of.items()}

    def _flyte_asset(context: AssetExecutionContext, **values_in: Any) -> Any:
        flyte = getattr(context.resources, resource_key)
        values = merged_inputs(context, static, {n: values_in[param_of[k]] for n, k in upstream.items()})
        if partition_input is not None:
            values[partition_input] = context.partition_key
        if iface.lazy:  # built without the backend: check the names against the task before launching
            try:
                task = flyte.get_client().get_task(task_name, version, project=project, domain=domain)
            except Exception as exc:
                raise dg.Failure(f"could not read Flyte task {task_name!r}: {exc}") from exc
            problem = check_lazy_inputs(task, list(values))
            if problem:
                raise dg.Failure(f"{problem}; nothing was launched", allow_retries=False)
        result = flyte.run_task(
            context, task_name, values, version=version, output_types=types, project=project, domain=domain, **options
        )
        selected = context.selected_asset_keys
        for out, asset_key in keyed:
            if asset_key not in selected:
                continue
            if out is None:
                yield dg.MaterializeResult(asset_key=asset_key, metadata=result.metadata)
            elif iface.lazy and len(keyed) == 1:  # the task's real outputs: one value, none, or all by name
                value = result.outputs.get(out) if out in result.outputs or len(result.outputs) != 1 else result.value
                if out not in result.outputs and len(result.outputs) > 1:
                    value = dict(result.outputs)
                yield dg.MaterializeResult(asset_key=asset_key, value=value, metadata=result.metadata)
            else:
                yield dg.MaterializeResult(asset_key=asset_key, value=result.outputs.get(out), metadata=result.metadata)

    # The annotation is text (``from __future__ import annotations``) and Dagster compares it with
    # the class itself: hand it the class.
    _flyte_asset.__annotations__["context"] = AssetExecutionContext
    decorate = dg.multi_asset(
        name=name or definition_name(base.to_python_identifier() if key is not None else task_name),
        outs=outs,
        ins=asset_ins,
        config_schema=INPUTS_CONFIG,
        required_resource_keys={resource_key},
        partitions_def=partitions_def,
        can_subset=len(specs) > 1,
        retry_policy=retry_policy,
        op_tags={"dagster-flyte/task": task_name},
    )
    return decorate(_flyte_asset)
