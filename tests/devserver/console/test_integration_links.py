"""The links the integrations hand their users, followed in a real browser to the console.

* Airflow: a DAG with a FlyteRunOperator runs with ``dag.test()``; the "Flyte run" button's
  URL is asked of Airflow's own REST API (the endpoint its UI calls for a task's extra
  links), then opened.
* Dagster: an asset built with ``build_flyte_asset`` is materialized; the
  ``dagster-flyte/run_url`` metadata of its materialization event is opened.

Either way the page is the run's: its name, task, phase SUCCEEDED and outputs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from flyte_remote_core.devserver import DevServer

# Importing the Airflow test harness sets AIRFLOW_HOME and the rest before anything imports airflow
# (Airflow reads its configuration once); its DagRunner writes and runs DAG files as those tests do.
from tests.flyte_airflow.conftest import AIRFLOW_HOME, DagRunner, airflow_db, connection_json

from .browser import open_page

pytestmark = pytest.mark.timeout(300)

__all__ = ["airflow_db"]  # the harness's fixture: `airflow db migrate`, once per session


def _assert_run_page(browser: Chrome, url: str, *, name: str, task: str, outputs: list[str]) -> None:
    """What a user who followed ``url`` sees: that run, its task, SUCCEEDED and its outputs."""
    open_page(browser, url)
    assert browser.find_element(By.ID, "run-name").text == name
    summary = browser.find_element(By.ID, "run-summary")
    assert summary.get_attribute("data-phase") == "SUCCEEDED"
    assert summary.find_element(By.CSS_SELECTOR, ".phase-cell").text == "SUCCEEDED"
    assert summary.find_element(By.CSS_SELECTOR, ".task").text == task
    assert browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text.split() == outputs
    assert browser.title == f"{name} - SUCCEEDED"


# -- Airflow ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _airflow_home_removed(request: pytest.FixtureRequest) -> None:
    # The harness removes its AIRFLOW_HOME at session end only when its conftest is loaded too.
    if not os.environ.get("FLYTE_AIRFLOW_KEEP_HOME"):
        request.config.add_cleanup(lambda: shutil.rmtree(AIRFLOW_HOME, ignore_errors=True))


@pytest.fixture
def dags(airflow_db: Any, _airflow_home_removed: None, server: DevServer, tmp_path: Any, monkeypatch: Any) -> DagRunner:
    """DAGs whose ``flyte_default`` connection points at this module's devserver."""
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(server.endpoint))
    return DagRunner(tmp_path)


@pytest.fixture
def airflow_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Airflow's API server app in process (the simple auth manager, everyone an admin)."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "console-test-secret")
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app("core")) as api:
        yield api


DAG = """
from datetime import datetime
from airflow.sdk import DAG
from flyte_airflow.operators.flyte import FlyteRunOperator

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="add", task_name="sample_tasks.add", inputs={"x": 19, "y": 23})
"""


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")
def test_the_airflow_extra_link_opens_the_run(dags: DagRunner, airflow_api: Any, browser: Chrome) -> None:
    result = dags.run(DAG)
    assert result.state == "success", result.states()
    dag_id, run_id = result.dag_run.dag_id, result.dag_run.run_id
    resp = airflow_api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/add/links")
    assert resp.status_code == 200, resp.text
    links = resp.json()["extra_links"]
    assert list(links) == ["Flyte run"]
    url = links["Flyte run"]
    # The same URL FlyteRunLink.get_link reads from the run_url XCom.
    assert url == result.xcom("add", "run_url")
    name = result.xcom("add", "run_name")
    assert name.startswith("af-") and url.endswith(f"/runs/{name}")
    _assert_run_page(browser, url, name=name, task="sample_tasks.add", outputs=["o0", "42"])


# -- Dagster ------------------------------------------------------------------------------------


@pytest.fixture
def flyte(server: DevServer) -> Iterator[Any]:
    """A FlyteResource on this module's devserver, with a fresh task-interface cache."""
    from flyte_dagster import FlyteResource, clear_interface_cache

    clear_interface_cache()
    try:
        yield FlyteResource(endpoint=server.endpoint, insecure=True, project="flytesnacks", domain="development")
    finally:
        clear_interface_cache()


def test_the_dagster_run_url_metadata_opens_the_run(flyte: Any, browser: Chrome) -> None:
    import dagster as dg

    from flyte_dagster import build_flyte_asset

    total = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": 20, "y": 22}, resource=flyte)
    grand = build_flyte_asset(
        "sample_tasks.add", key="grand_total", ins={"x": "total"}, inputs={"y": 8}, resource=flyte
    )
    result = dg.materialize([total, grand], resources={"flyte": flyte})
    assert result.success
    events = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    assert sorted(events) == ["grand_total", "total"]
    names: set[str] = set()
    for key, expected in [("total", "42"), ("grand_total", "50")]:
        meta = events[key].metadata
        link = meta["dagster-flyte/run_url"]
        assert isinstance(link, dg.UrlMetadataValue)  # what Dagster's UI shows as a link
        name, url = str(meta["dagster-flyte/run_name"].value), str(link.url)
        assert name.startswith("dg-") and url.endswith(f"/runs/{name}")
        _assert_run_page(browser, url, name=name, task="sample_tasks.add", outputs=["o0", expected])
        names.add(name)
    assert len(names) == 2  # each asset's link is its own run's page
