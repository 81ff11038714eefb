"""Run in subprocesses by test_termination: a long Flyte-backed step, until it is terminated.

* ``python -m tests.flyte_dagster.terminate_target ENDPOINT``: ``materialize`` in this
  process (the step runs in the main thread); SIGINT interrupts it.
* ``dagster job execute -m tests.flyte_dagster.terminate_target -j slow_job``: a run
  worker with the multiprocess executor (the step runs in its own process), configured
  from ``FLYTE_*``; terminated through the Dagster instance.
"""

import sys

import dagster as dg

from flyte_dagster import FlyteResource, FlyteTaskInterface, build_flyte_asset, build_flyte_op, flyte_resource

SLOW = FlyteTaskInterface.declare("dagster_tasks.slow", inputs={"seconds": float}, outputs=["o0"])

slow_op = build_flyte_op("dagster_tasks.slow", name="slow_step", inputs={"seconds": 300.0}, interface=SLOW)


@dg.job(resource_defs={"flyte": flyte_resource})
def slow_job() -> None:
    slow_op()


def main(endpoint: str) -> None:
    flyte = FlyteResource(endpoint=endpoint, insecure=True)
    slow = build_flyte_asset(
        "dagster_tasks.slow", key="slow", inputs={"seconds": 300.0}, resource=flyte, interface=SLOW
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([slow], resources={"flyte": flyte}, instance=instance, raise_on_error=False)
        print("DAGSTER RUN STATUS", instance.get_run_by_id(result.run_id).status, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
