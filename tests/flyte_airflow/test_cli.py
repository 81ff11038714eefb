"""The provider as Airflow's CLI sees it, and a DAG run through ``airflow dags test``."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import AIRFLOW_BIN, DAGS_FOLDER, REPO_ROOT, connection_json

EXAMPLE_DAG = REPO_ROOT / "examples" / "airflow" / "dags" / "flyte_example.py"


def _airflow(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW_BIN, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO_ROOT),
    )


@pytest.mark.timeout(240)
def test_airflow_providers_cli_lists_the_provider(airflow_db):
    listed = _airflow("providers", "list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "flyte-integrations" in listed.stdout
    hooks = _airflow("providers", "hooks")
    assert hooks.returncode == 0, hooks.stderr[-2000:]
    assert "flyte_airflow.hooks.flyte.FlyteHook" in hooks.stdout
    links = _airflow("providers", "links")
    assert "flyte_airflow.links.flyte.FlyteRunLink" in links.stdout, links.stdout + links.stderr[-2000:]
    triggers = _airflow("providers", "triggers")
    assert "flyte_airflow.triggers.flyte" in triggers.stdout, triggers.stdout + triggers.stderr[-2000:]


@pytest.mark.timeout(240)
@pytest.mark.flyte_devserver_tasks("examples.tasks")
def test_example_dag_through_airflow_dags_test_cli(airflow_db, flyte_devserver):
    target = DAGS_FOLDER / "flyte_example.py"
    shutil.copy(EXAMPLE_DAG, target)
    try:
        result = _airflow(
            "dags",
            "test",
            "flyte_example",
            env={"AIRFLOW_CONN_FLYTE_DEFAULT": connection_json(flyte_devserver.endpoint)},
        )
    finally:
        target.unlink()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Hello, Airflow! add says 42" in output, output[-4000:]
    assert "state=success" in output.replace("state=DagRunState.SUCCESS", "state=success"), output[-3000:]
    assert flyte_devserver.admin.call_count("CreateRun") == 2
