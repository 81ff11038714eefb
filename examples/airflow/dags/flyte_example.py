"""Example: launch Flyte tasks from Airflow, gate on a run, use the outputs downstream.

Deploy the example tasks (``examples/tasks.py``: ``tasks.add``, ``tasks.greet``,
``tasks.summarize``, ...) to a Flyte 2 backend, or serve them locally with the devserver::

    flyte-devserver --tasks examples.tasks --port 8090

and point the ``flyte_default`` connection at it::

    export AIRFLOW_CONN_FLYTE_DEFAULT='{"conn_type": "flyte", "host": "localhost:8090",
        "extra": {"insecure": true, "project": "flytesnacks", "domain": "development"}}'

Then ``airflow dags test flyte_example``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from flyte_airflow.operators.flyte import FlyteRunOperator
from flyte_airflow.sensors.flyte import FlyteRunSensor

with DAG(
    dag_id="flyte_example",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"x": 20, "y": 22, "name": "Airflow"},
    tags=["flyte", "example"],
    doc_md=__doc__,
) as dag:
    # Launch tasks.add and wait for it. Params are rendered into the inputs ("20" is
    # coerced to the declared int). The run name is derived from dag/task/run id, the
    # try, the task and its inputs, so a retry after a worker crash attaches to the same
    # run instead of starting another, while a cleared task re-run with new params
    # launches a new one. Outputs come back as XCom: the whole dict, and each output by name.
    add = FlyteRunOperator(
        task_id="add",
        task_name="tasks.add",
        inputs={"x": "{{ params.x }}", "y": "{{ params.y }}"},
        timeout=timedelta(minutes=30),  # past it the Flyte run is aborted and the task fails
        retries=2,  # only SYSTEM errors are retried; a USER error fails at once
        retry_delay=timedelta(seconds=10),
    )

    # Start tasks.greet without waiting here (the worker slot is freed at once) ...
    greet = FlyteRunOperator(
        task_id="start_greet",
        task_name="tasks.greet",
        inputs={"name": "{{ params.name }}"},
        wait_for_termination=False,
    )

    # ... and gate on that run with a sensor (deferrable: it waits in the triggerer,
    # sharing one watch stream with every other deferred Flyte task).
    greeted = FlyteRunSensor(
        task_id="wait_for_greet",
        run_name="{{ ti.xcom_pull(task_ids='start_greet', key='run_name') }}",
        target_phases=["SUCCEEDED"],
        deferrable=True,
        poke_interval=5,
        timeout=3600,
    )
    greet >> greeted

    @task
    def report(total: int, greeting: dict, add_url: str) -> str:
        line = f"{greeting['o0']} add says {total} ({add_url})"
        print(line)
        return line

    report(add.output["o0"], greeted.output, add.output["run_url"])
