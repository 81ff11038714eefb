"""FlyteRunOperator in real DAGs run with dag.test() against the devserver."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

HEADER = """
import json
from datetime import datetime, timedelta
from airflow.sdk import DAG, task
from flyte_airflow.operators.flyte import FlyteRunOperator

def dump(name, value):
    with open("__OUT__/" + name, "w") as f:
        json.dump(value, f)
"""


def test_outputs_reach_downstream_task_sync(dags, flyte_conn):
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
    assert got["total"] == 42
    assert got["whole"] == {"o0": 42}
    assert got["run_name"].startswith("af-")
    assert got["run_name"] in got["run_url"]
    assert result.xcom("add") == {"o0": 42}
    assert result.xcom("add", "o0") == 42
    assert result.xcom("add", "_link_FlyteRunLink") == got["run_url"]
    run = flyte_conn.client.get_run(got["run_name"])
    assert run.phase.value == "SUCCEEDED"
    assert flyte_conn.admin.call_count("CreateRun") == 1


def test_templated_inputs_from_upstream_task(dags, flyte_conn):
    result = dags.run(
        HEADER
        + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    @task(multiple_outputs=True)
    def make():
        return {"a": 5, "b": 7, "who": "Airflow"}

    made = make()
    add = FlyteRunOperator(
        task_id="add",
        task_name="{{ 'sample_tasks.' ~ 'add' }}",
        # a Jinja string (rendered "5", coerced to int) and an XComArg inside the dict
        inputs={"x": "{{ ti.xcom_pull(task_ids='make')['a'] }}", "y": made["b"]},
    )
    greet = FlyteRunOperator(task_id="greet", task_name="sample_tasks.greet",
                             inputs={"name": "{{ ti.xcom_pull(task_ids='make')['who'] }}", "greeting": "Hi"})
    made >> [add, greet]  # greet pulls make's XCom through a template: it needs the edge too

    @task
    def collect(total, text):
        dump("collect.json", {"total": total, "text": text})

    collect(add.output["o0"], greet.output["o0"])
"""
    )
    assert result.state == "success", result.states()
    assert result.read("collect.json") == {"total": 12, "text": "Hi, Airflow!"}


def test_deferrable_mode_event_carries_everything(dags, flyte_conn):
    result = dags.run(
        HEADER
        + """
class RecordingOp(FlyteRunOperator):
    def execute_complete(self, context, event=None):
        dump("event.json", event)
        return super().execute_complete(context, event)

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    op = RecordingOp(task_id="split", task_name="sample_tasks.split_name", inputs={"full": "ada lovelace"},
                     deferrable=True, timeout=60, wait_before_defer=0)

    @task
    def collect(n, first):
        dump("collect.json", [n, first])

    collect(op.output["o0"], op.output["o1"])
"""
    )
    assert result.state == "success", result.states()
    event = result.read("event.json")
    assert event is not None, "execute_complete was not called: the operator did not defer"
    assert event["status"] == "success" and event["phase"] == "SUCCEEDED"
    assert event["outputs"] == {"o0": 2, "o1": "ADA"}
    assert event["run_name"].startswith("af-") and event["run_url"].endswith(event["run_name"])
    assert result.read("collect.json") == [2, "ADA"]
    assert result.xcom("split", "run_name") == event["run_name"]
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
    ti = result.ti("boom")
    assert str(ti.state) == "failed"
    assert ti.try_number == 1, ti.try_number
    assert flyte_conn.admin.call_count("CreateRun") == 1, "a USER error must not be retried"
    run_url = result.xcom("boom", "run_url")
    assert run_url and result.xcom("boom", "_link_FlyteRunLink") == run_url, "the link must survive a failure"
    run = flyte_conn.client.get_run(result.xcom("boom", "run_name"))
    assert run.phase.value == "FAILED"


def test_system_error_is_retried_with_a_new_run(dags, flyte_conn):
    result = dags.run(
        HEADER
        + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="crash", task_name="sample_tasks.crash", inputs={"code": 3},
                     retries=1, retry_delay=timedelta(seconds=0))
"""
    )
    assert result.state == "failed"
    assert result.ti("crash").try_number == 2, "a SYSTEM error must be retried"
    assert flyte_conn.admin.call_count("CreateRun") == 2, "the retry launches a new run after a FAILED one"


def test_invalid_inputs_fail_before_launch(dags, flyte_conn):
    result = dags.run(
        HEADER
        + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="bad", task_name="sample_tasks.add", inputs={"x": "not-a-number", "y": 1},
                     retries=2, retry_delay=timedelta(seconds=0))
"""
    )
    assert result.state == "failed"
    assert result.ti("bad").try_number == 1, "invalid inputs are not retried"
    assert flyte_conn.admin.call_count("CreateRun") == 0
    assert flyte_conn.admin.call_count("UploadInputs") == 0


def test_retry_after_worker_crash_attaches_to_running_run(dags, flyte_conn):
    import threading
    import time

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
        ti = context["ti"]
        if ti.try_number == 1:
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
    assert result.ti("add").try_number == 2
    assert admin.call_count("CreateRun") == 1, "the retry must attach, not launch again"
    assert result.read("collect.json") == 3


def _record_failure_header() -> str:
    return (
        HEADER
        + """
def record_failure(context):
    dump("failure.json", {"type": type(context["exception"]).__name__, "message": str(context["exception"])})
"""
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
@pytest.mark.parametrize("abort_works", [True, False], ids=["abort-ok", "abort-fails"])
def test_deadline_aborts_remote_run(dags, flyte_conn, deferrable, abort_works):
    import time

    if not abort_works:  # every AbortRun call fails: the message must not claim an abort
        flyte_conn.admin.fail_next("AbortRun", "PERMISSION_DENIED", count=50)
    started = time.monotonic()
    result = dags.run(
        _record_failure_header()
        + f"""
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="hang", task_name="sample_tasks.hang", timeout=3, deferrable={deferrable},
                     on_failure_callback=record_failure)
"""
    )
    assert result.state == "failed"
    assert time.monotonic() - started < 60
    run_name = result.xcom("hang", "run_name")
    failure = result.read("failure.json")
    assert failure is not None and failure["type"] == "FlyteRunDeadlineException", failure
    message = failure["message"]
    assert f"the deadline (the task's timeout) passed before run {run_name} finished" in message, message
    run = flyte_conn.client.get_run(run_name)
    if abort_works:
        assert "the run was aborted" in message, message
        assert run.phase.value == "ABORTED", run.phase
    else:
        assert "could NOT be aborted" in message and "was aborted" not in message, message
        assert not run.done(), run.phase
        flyte_conn.admin.clear_faults()
        run.abort("test cleanup")


def test_wait_for_termination_false_returns_after_launch(dags, flyte_conn):
    flyte_conn.admin.hold(all_new_runs=True)
    try:
        result = dags.run(
            HEADER
            + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="fire", task_name="sample_tasks.add", inputs={"x": 1, "y": 1},
                     wait_for_termination=False)
"""
        )
        assert result.state == "success"
        run = flyte_conn.client.get_run(result.xcom("fire", "run_name"))
        assert not run.done()
    finally:
        flyte_conn.admin.release()
