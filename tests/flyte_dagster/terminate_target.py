"""Run in a subprocess by test_termination: materializes a long Flyte-backed asset until interrupted."""

import sys

import dagster as dg

from flyte_dagster import FlyteResource, FlyteTaskInterface, build_flyte_asset


def main(endpoint: str) -> None:
    flyte = FlyteResource(endpoint=endpoint, insecure=True)
    slow = build_flyte_asset(
        "dagster_tasks.slow", key="slow", inputs={"seconds": 300.0}, resource=flyte,
        interface=FlyteTaskInterface.declare("dagster_tasks.slow", inputs={"seconds": float}, outputs=["o0"]),
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([slow], resources={"flyte": flyte}, instance=instance, raise_on_error=False)
        print("DAGSTER RUN STATUS", instance.get_run_by_id(result.run_id).status, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
