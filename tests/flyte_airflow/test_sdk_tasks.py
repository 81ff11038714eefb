"""The main job on real Flyte code: a DAG launches tasks deployed with the official SDK and hands
their outputs on (the SDK's venv runs them on the devserver; see tests/sdk_support.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sdk_support import requires_sdk

from .conftest import connection_json

pytestmark = [requires_sdk, pytest.mark.timeout(240)]

DAG_BODY = """
import json
from datetime import datetime
from airflow.sdk import DAG, task
from flyte_airflow.operators.flyte import FlyteRunOperator

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    add = FlyteRunOperator(task_id="add", task_name="sdkt.add", inputs={"a": 2, "b": 40})
    shout = FlyteRunOperator(
        task_id="shout", task_name="sdkt.shout", inputs={"words": ["flyte", "airflow"], "sep": "+"},
        deferrable=True, wait_before_defer=0,
    )
    moved = FlyteRunOperator(task_id="move", task_name="sdkt.move", inputs={"p": {"x": 1, "y": 2}, "dx": 5})

    @task
    def collect(total, text, point, run_url):
        with open("__OUT__/collect.json", "w") as f:
            json.dump({"total": total, "text": text, "point": point, "run_url": run_url}, f)

    collect(add.output["o0"], shout.output["o0"], moved.output["o0"], add.output["run_url"])
"""


def test_a_dag_runs_sdk_deployed_tasks_and_passes_their_outputs_on(
    dags: Any, sdk_deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(sdk_deployed.endpoint))
    before = sdk_deployed.admin.call_count("CreateRun")
    result = dags.run(DAG_BODY)
    assert result.state == "success", result.states()
    got = result.read("collect.json")
    assert got["total"] == 42
    assert got["text"] == "FLYTE+AIRFLOW"
    assert got["point"] == {"x": 6, "y": 2}
    assert "/v2/domain/development/project/flytesnacks/runs/" in got["run_url"]
    assert sdk_deployed.admin.call_count("CreateRun") - before == 3
