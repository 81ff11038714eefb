"""FlyteRunOperator and FlyteRunSensor in real DAGs on Airflow 3.0 (``dag.test()``, devserver).

A small, real subset of ``tests/flyte_airflow``: each test exercises one of the provider's
fallbacks for Airflow < 3.3 (no ResumableJobMixin, no async connection getter, no trigger
``on_kill``, task exceptions and BaseHook at their 3.0 import paths).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

HEADER = """
import json
from datetime import datetime, timedelta
from airflow.sdk import DAG, task
from flyte_airflow.operators.flyte import FlyteRunOperator
from flyte_airflow.sensors.flyte import FlyteRunSensor

def dump(name, value):
    with open("__OUT__/" + name, "w") as f:
        json.dump(value, f)
"""


def test_runs_on_the_fallback_paths():
    """This suite is only meaningful if the 3.0 fallbacks are the code paths under test."""
    import airflow
    from airflow.triggers.base import BaseTrigger

    import flyte_airflow.operators.flyte as operator_module
    from flyte_airflow.hooks.flyte import FlyteHook

    assert airflow.__version__.startswith("3.0."), airflow.__version__
    assert operator_module.HAS_RESUMABLE is False
    assert not hasattr(FlyteHook, "aget_connection")
    assert not hasattr(BaseTrigger, "on_kill")


def test_sync_outputs_reach_downstream_task(dags, flyte_conn):
    result = dags.run(
        HEADER
        + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    add = FlyteRunOperator(task_id="add", task_name="sample_tasks.add", inputs={"x": 2, "y": 40})

    @task
    def collect(total, whole, run_name, run_url):
        dump("collect.json", {"total": total, "whole": whole, "run_name": run_name, "run_url": run_url})

    collect(add.output["o0"], add.output, add.output["run_name"], add.output["run_url"])
"""
    )
    assert result.state == "success", result.states()
    got = result.read("collect.json")
    assert got["total"] == 42 and got["whole"] == {"o0": 42}
    assert got["run_name"].startswith("af-") and got["run_name"] in got["run_url"]
    assert result.xcom("add") == {"o0": 42}
    assert result.xcom("add", "o0") == 42
    assert result.xcom("add", "_link_FlyteRunLink") == got["run_url"]
    assert flyte_conn.client.get_run(got["run_name"]).phase.value == "SUCCEEDED"
    assert flyte_conn.admin.call_count("CreateRun") == 1


def test_deferrable_success_through_the_trigger(dags, flyte_conn):
    admin = flyte_conn.admin
    admin.hold(all_new_runs=True)  # the run is still active when the operator looks: it must defer
    stop = threading.Event()

    def release_after_launch():
        while not stop.is_set():
            if admin.call_count("CreateRun") >= 1:
                time.sleep(0.5)  # the operator reads the run right after launching it, then defers
                admin.release()
                return
            time.sleep(0.05)

    threading.Thread(target=release_after_launch, daemon=True).start()
    try:
        result = dags.run(
            HEADER
            + """
class RecordingOp(FlyteRunOperator):
    def execute_complete(self, context, event=None):
        dump("event.json", event)
        return super().execute_complete(context, event)

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    op = RecordingOp(task_id="split", task_name="sample_tasks.split_name", inputs={"full": "ada lovelace"},
                     deferrable=True, wait_before_defer=0, timeout=60)

    @task
    def collect(n, first):
        dump("collect.json", [n, first])

    collect(op.output["o0"], op.output["o1"])
"""
        )
    finally:
        stop.set()
        admin.release()
    assert result.state == "success", result.states()
    event = result.read("event.json")
    assert event is not None, "execute_complete was not called: the operator did not defer"
    assert event["status"] == "success" and event["phase"] == "SUCCEEDED"
    assert event["outputs"] == {"o0": 2, "o1": "ADA"}
    assert result.read("collect.json") == [2, "ADA"]
    assert result.xcom("split", "run_name") == event["run_name"]
    assert result.xcom("split", "_link_FlyteRunLink") == event["run_url"]
    assert flyte_conn.admin.call_count("CreateRun") == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_user_error_fails_without_retry(dags, flyte_conn, deferrable):
    result = dags.run(
        HEADER
        + f"""
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="boom", task_name="sample_tasks.fail_user", inputs={{"message": "no good"}},
                     retries=3, retry_delay=timedelta(seconds=0), deferrable={deferrable})
"""
    )
    assert result.state == "failed"
    assert result.states()["boom"] == "failed"
    assert result.try_number("boom") == 1, "a USER error must not be retried"
    assert flyte_conn.admin.call_count("CreateRun") == 1
    run_url = result.xcom("boom", "run_url")
    assert run_url and result.xcom("boom", "_link_FlyteRunLink") == run_url, "the link must survive a failure"
    assert flyte_conn.client.get_run(result.xcom("boom", "run_name")).phase.value == "FAILED"


def test_deferrable_sensor_returns_outputs(dags, flyte_conn):
    result = dags.run(
        HEADER
        + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    launch = FlyteRunOperator(task_id="launch", task_name="sample_tasks.sleepy", inputs={"seconds": 1.5},
                              wait_for_termination=False)
    gate = FlyteRunSensor(task_id="gate", run_name="{{ ti.xcom_pull(task_ids='launch', key='run_name') }}",
                          poke_interval=0.5, timeout=60, deferrable=True)

    @task
    def collect(outputs):
        dump("collect.json", outputs)

    launch >> gate
    collect(gate.output)
"""
    )
    assert result.state == "success", result.states()
    assert result.read("collect.json") == {"o0": 1.5}
    assert result.xcom("gate", "_link_FlyteRunLink") == result.xcom("launch", "run_url")
    assert flyte_conn.client.get_run(result.xcom("launch", "run_name")).phase.value == "SUCCEEDED"


def test_retry_after_worker_crash_attaches_to_running_run(dags, flyte_conn):
    """Without ResumableJobMixin (3.0) the deterministic run name alone makes try 2 attach."""
    admin = flyte_conn.admin
    admin.hold(all_new_runs=True)
    stop = threading.Event()

    def release_when_second_try_waits():
        marker = dags.tmp_path / "try2.json"
        while not stop.is_set():
            if marker.exists():
                time.sleep(0.3)
                admin.release()
                return
            time.sleep(0.05)

    releaser = threading.Thread(target=release_when_second_try_waits, daemon=True)
    releaser.start()
    try:
        result = dags.run(
            HEADER
            + """
class CrashOnce(FlyteRunOperator):
    def poll_until_complete(self, external_id, context):
        if context["ti"].try_number == 1:
            dump("try1.json", external_id)
            raise RuntimeError("simulated worker crash while waiting")
        dump("try2.json", external_id)
        return super().poll_until_complete(external_id, context)

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    op = CrashOnce(task_id="add", task_name="sample_tasks.add", inputs={"x": 1, "y": 2},
                   retries=2, retry_delay=timedelta(seconds=0))

    @task
    def collect(total):
        dump("collect.json", total)

    collect(op.output["o0"])
"""
        )
    finally:
        stop.set()
        admin.release()
    assert result.state == "success", result.states()
    first, second = result.read("try1.json"), result.read("try2.json")
    assert first and second and first["run_name"] == second["run_name"], (first, second)
    assert result.try_number("add") == 2
    assert admin.call_count("CreateRun") == 1, "the retry must attach, not launch again"
    assert result.read("collect.json") == 3


def test_providers_list_shows_the_provider(airflow_db):
    env = os.environ.copy()
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    listed = subprocess.run(
        [airflow_bin, "providers", "list", "-o", "json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert '"package_name": "flyte-integrations"' in listed.stdout, listed.stdout[-3000:]
    hooks = subprocess.run(
        [airflow_bin, "providers", "hooks", "-o", "json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert hooks.returncode == 0, hooks.stderr[-3000:]
    assert "flyte_airflow.hooks.flyte.FlyteHook" in hooks.stdout, hooks.stdout[-3000:]
