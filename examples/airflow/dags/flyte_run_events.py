"""Example: a DAG that Flyte runs schedule, with no polling. Each ``tasks.add`` run that succeeds
(launched from anywhere: the Flyte CLI, a Flyte schedule, another system) starts one DAG run,
through an asset watcher in the triggerer; the run's name, URL and phase ride on the asset event.

Needs a triggerer (``airflow triggerer``) and the ``flyte_default`` connection (see
``flyte_example.py``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset, AssetWatcher, task

from flyte_airflow.triggers.flyte import FlyteRunEventTrigger

sums = Asset(
    "flyte://flytesnacks/development/tasks.add",
    watchers=[AssetWatcher(name="flyte_add_succeeded", trigger=FlyteRunEventTrigger(task_name="tasks.add"))],
)

with DAG(dag_id="flyte_run_events", schedule=[sums], start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def report(**context) -> list[str]:
        # One asset event per Flyte run: run_name, phase, url, task_name, project, domain, ...
        runs = [event.extra["payload"] for events in context["triggering_asset_events"].values() for event in events]
        for run in runs:
            print(f"Flyte run {run['run_name']} {run['phase']}: {run['url']}")
        return [run["run_name"] for run in runs]

    report()
