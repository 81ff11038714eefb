"""Flyte-backed Dagster assets and an op job over the example tasks (``examples/tasks.py``).

Load it with ``dagster dev -f examples/dagster/definitions.py``, or check that it loads with
``dagster definitions validate -f examples/dagster/definitions.py`` (both from the repository
root; ``tests/flyte_dagster/test_examples.py`` runs the latter). The ``dg`` flavour of this
example is the project in ``flyte_components/`` (``cd examples/dagster/flyte_components && dg check defs``).
Connection settings come from ``FLYTE_ENDPOINT``, ``FLYTE_INSECURE``, ``FLYTE_PROJECT``,
``FLYTE_DOMAIN`` and ``FLYTE_API_KEY`` at run time; for a local try-out start the devserver:
``flyte-devserver --port 8090 --tasks examples.tasks`` and ``export FLYTE_ENDPOINT=localhost:8090 FLYTE_INSECURE=1``.

Interfaces are declared here, so loading these definitions never calls the backend.
"""

from typing import Any

import dagster as dg

from flyte_dagster import FlyteTaskInterface, build_flyte_asset, build_flyte_op, build_flyte_run_sensor, flyte_resource

try:  # rebuild the task's dataclass output as the same class when it is importable
    from examples.tasks import Stats
except ImportError:  # pragma: no cover - the summary then arrives as a dict
    Stats = None

ADD = FlyteTaskInterface.declare("tasks.add", inputs={"x": int, "y": int}, outputs={"o0": int})
SUMMARIZE = FlyteTaskInterface.declare("tasks.summarize", inputs={"values": list}, outputs=["o0"])
GREET = FlyteTaskInterface.declare("tasks.greet", inputs={"name": str}, outputs={"o0": str})
SLOW = FlyteTaskInterface.declare(
    "tasks.slow", inputs={"seconds": float}, optional_inputs=["seconds"], outputs={"o0": float}
)

# A Flyte run computes `total`; its output is the asset's value.
total = build_flyte_asset("tasks.add", key="total", inputs={"x": 1, "y": 2}, interface=ADD, group_name="flyte")


@dg.asset(group_name="flyte")
def readings(total: int) -> list[float]:
    """A local asset whose value feeds the next Flyte task."""
    return [float(total * i) for i in range(1, 6)]


# `ins` feeds the value of the local asset `readings` to the task input `values`.
summary = build_flyte_asset(
    "tasks.summarize",
    key="summary",
    ins={"values": "readings"},
    interface=SUMMARIZE,
    output_types={"o0": Stats} if Stats is not None else None,
    group_name="flyte",
)

# One Flyte run per partition; the partition key is the task input `name`.
greeting = build_flyte_asset(
    "tasks.greet",
    key="greeting",
    partition_input="name",
    interface=GREET,
    group_name="flyte",
    partitions_def=dg.StaticPartitionsDefinition(["ada", "grace", "linus"]),
)


@dg.asset(group_name="flyte")
def report(context: dg.AssetExecutionContext, total: int, summary: Any) -> str:
    """A downstream asset consuming Flyte outputs as values (an int and a dataclass)."""
    mean = summary.mean if hasattr(summary, "mean") else dict(summary).get("mean")
    text = f"total={total} mean={mean}"
    context.log.info(text)
    return text


slow = build_flyte_op("tasks.slow", interface=SLOW, retry_policy=dg.RetryPolicy(max_retries=2))


@dg.op
def seconds() -> float:
    return 1.0


@dg.job
def slow_job() -> None:
    """An op job: a retried step attaches to the still-running Flyte run instead of relaunching."""
    slow(seconds=seconds())


# Runs of tasks.add launched outside Dagster become materializations of `total`.
total_runs = build_flyte_run_sensor("total", "tasks.add")

defs = dg.Definitions(
    assets=[total, readings, summary, greeting, report],
    jobs=[slow_job],
    sensors=[total_runs],
    resources={"flyte": flyte_resource},
)
