"""FlyteRunSensor in poke, reschedule and deferrable modes, in real DAGs."""

from __future__ import annotations

import pytest

from .test_operator_dags import HEADER

pytestmark = pytest.mark.timeout(120)

SENSOR_DAG = (
    HEADER
    + """
from flyte_airflow.sensors.flyte import FlyteRunSensor

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    launch = FlyteRunOperator(task_id="launch", task_name="sample_tasks.{task}", inputs={inputs},
                              wait_for_termination=False)
    gate = FlyteRunSensor(task_id="gate", run_name="{{{{ ti.xcom_pull(task_ids='launch', key='run_name') }}}}",
                          poke_interval=0.5, timeout=60, {options})

    @task
    def collect(outputs):
        dump("collect.json", outputs)

    launch >> gate
    collect(gate.output)
"""
)


@pytest.mark.parametrize(
    "options", ['mode="poke"', 'mode="reschedule"', "deferrable=True"], ids=["poke", "reschedule", "deferrable"]
)
def test_sensor_waits_and_returns_outputs(dags, flyte_conn, options):
    result = dags.run(SENSOR_DAG.format(task="sleepy", inputs={"seconds": 1.5}, options=options))
    assert result.state == "success", result.states()
    assert result.read("collect.json") == {"o0": 1.5}
    run_name = result.xcom("launch", "run_name")
    assert result.xcom("gate", "_link_FlyteRunLink") == result.xcom("launch", "run_url")
    assert flyte_conn.client.get_run(run_name).phase.value == "SUCCEEDED"


@pytest.mark.parametrize("options", ['mode="poke"', "deferrable=True"], ids=["poke", "deferrable"])
def test_sensor_fails_on_other_terminal_phase(dags, flyte_conn, options):
    result = dags.run(SENSOR_DAG.format(task="fail_user", inputs={"message": "nope"}, options=options))
    assert result.states()["gate"] == "failed"
    assert result.states()["collect"] == "upstream_failed"


def test_sensor_soft_fail_skips(dags, flyte_conn):
    result = dags.run(
        SENSOR_DAG.format(task="fail_user", inputs={"message": "nope"}, options='mode="poke", soft_fail=True')
    )
    assert result.states()["gate"] == "skipped"


def test_sensor_target_failed_phase(dags, flyte_conn):
    result = dags.run(
        SENSOR_DAG.format(
            task="fail_user", inputs={"message": "nope"}, options='deferrable=True, target_phases=["FAILED"]'
        )
    )
    assert result.states()["gate"] == "success", result.states()


@pytest.mark.parametrize("options", ['mode="poke"', "deferrable=True"], ids=["poke", "deferrable"])
@pytest.mark.parametrize("soft_fail", [True, False], ids=["soft_fail", "hard_fail"])
def test_sensor_on_run_that_already_failed(dags, flyte_conn, options, soft_fail):
    # The run has ended (FAILED) before the sensor first looks: the deferrable sensor decides
    # before deferring, and soft_fail must skip there too.
    flyte_conn.client.run("sample_tasks.fail_user", {"message": "nope"}, name="failed-before").wait(quiet=True)
    result = dags.run(
        HEADER
        + f"""
from flyte_airflow.sensors.flyte import FlyteRunSensor

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunSensor(task_id="gate", run_name="failed-before", poke_interval=0.5, timeout=60,
                   soft_fail={soft_fail}, {options})
"""
    )
    assert result.states()["gate"] == ("skipped" if soft_fail else "failed"), result.states()
    assert result.xcom("gate", "run_url") and result.xcom("gate", "run_name") == "failed-before"
