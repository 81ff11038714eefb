"""Airflow test session: a temporary AIRFLOW_HOME with a migrated SQLite metadata DB.

The environment is set when this module is imported, before anything imports airflow
(Airflow reads its configuration once, at import). Tests write DAG files into the
temporary dags folder and run them with ``dag.test()`` against the ``flyte_devserver``
fixture; the ``flyte_default`` connection comes from ``AIRFLOW_CONN_FLYTE_DEFAULT``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

if "airflow" in sys.modules:  # pragma: no cover - a guard for suite ordering mistakes
    _home_ok = os.environ.get("AIRFLOW_HOME", "").startswith(tempfile.gettempdir())
    if not _home_ok:
        raise RuntimeError("airflow was imported before tests/flyte_airflow/conftest.py could set AIRFLOW_HOME")

AIRFLOW_HOME = Path(os.environ.get("FLYTE_AIRFLOW_TEST_HOME") or tempfile.mkdtemp(prefix="flyte-airflow-home-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir(parents=True, exist_ok=True)
REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_TASKS = "tests.devserver.sample_tasks"

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "False",
    "AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE": "False",
}
os.environ.update(AIRFLOW_ENV)
# DAG files and devserver workers import the sample tasks as tests.devserver.sample_tasks
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)

AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


def pytest_sessionfinish(session, exitstatus):
    if not os.environ.get("FLYTE_AIRFLOW_KEEP_HOME"):
        shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the metadata DB once per session (``airflow db migrate``, as a user would)."""
    result = subprocess.run(
        [AIRFLOW_BIN, "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return AIRFLOW_HOME


@pytest.fixture
def flyte_devserver_tasks():
    return [SAMPLE_TASKS]


def connection_json(endpoint: str, **extra) -> str:
    return json.dumps(
        {
            "conn_type": "flyte",
            "host": endpoint,
            "extra": {"insecure": True, "project": "flytesnacks", "domain": "development", **extra},
        }
    )


@pytest.fixture
def flyte_conn(flyte_devserver, monkeypatch):
    """``flyte_default`` pointing at this test's devserver (env var connection)."""
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(flyte_devserver.endpoint))
    return flyte_devserver


class DagRunner:
    """Write a DAG file into the dags folder, load it, run it with ``dag.test()``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def write(self, body: str, *, dag_id: str | None = None) -> tuple[str, Path]:
        dag_id = dag_id or f"t_{uuid.uuid4().hex[:10]}"
        source = textwrap.dedent(body).replace("__DAG_ID__", dag_id).replace("__OUT__", str(self.tmp_path))
        path = DAGS_FOLDER / f"{dag_id}.py"
        path.write_text(source)
        return dag_id, path

    def load(self, path: Path, dag_id: str):
        spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
                return value
        raise AssertionError(f"no DAG {dag_id} in {path}")

    def run(self, body: str, **test_kwargs):
        dag_id, path = self.write(body)
        dag = self.load(path, dag_id)
        dag_run = dag.test(**test_kwargs)
        return DagResult(dag_run, self.tmp_path)


class DagResult:
    def __init__(self, dag_run, out: Path) -> None:
        self.dag_run = dag_run
        self.out = out

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    def ti(self, task_id: str):
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            ti = (
                session.query(TaskInstance)
                .filter_by(dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id, task_id=task_id)
                .one()
            )
            session.expunge(ti)
            return ti

    def states(self) -> dict[str, str]:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(TaskInstance).filter_by(dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id).all()
            return {ti.task_id: str(ti.state) for ti in rows}

    def xcom(self, task_id: str, key: str = "return_value"):
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id, task_id=task_id, key=key)
                .one_or_none()
            )
            if row is None:
                return None
            return XComModel.deserialize_value(row)

    def read(self, name: str):
        path = self.out / name
        return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def dags(airflow_db, tmp_path) -> DagRunner:
    return DagRunner(tmp_path)
