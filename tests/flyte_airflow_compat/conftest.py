"""The provider on the oldest supported Airflow (3.0.x), run for real with ``dag.test()``.

``make test-compat`` runs this folder in its own virtualenv (``.venv-airflow30``), because
Airflow 3.0 cannot share ``.venv`` with Airflow 3.3 and Dagster. Under any Airflow >= 3.1
(the main suite) this conftest leaves the environment alone (``tests/flyte_airflow`` owns
AIRFLOW_HOME there) and every test here is skipped at collection, before any fixture runs.

On 3.0 the environment is set when this module is imported, before anything imports
airflow (Airflow reads its configuration once, at import): a temporary AIRFLOW_HOME, a
dags folder, and a SQLite metadata DB migrated once per session by the ``airflow_db``
fixture (``airflow db migrate``, as a user would).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SAMPLE_TASKS = "tests.devserver.sample_tasks"


def _airflow_version() -> tuple[int, ...] | None:
    try:
        raw = importlib.metadata.version("apache-airflow")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", raw)[:3])


AIRFLOW_VERSION = _airflow_version()
# The compat suite is meaningful only on Airflow 3.0.x; the main suite covers 3.1+.
ACTIVE = AIRFLOW_VERSION is not None and AIRFLOW_VERSION[:2] == (3, 0)
SKIP_REASON = (
    f"Airflow 3.0 compatibility suite (make test-compat); this interpreter has Airflow "
    f"{'.'.join(map(str, AIRFLOW_VERSION)) if AIRFLOW_VERSION else 'not installed'}"
)


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests (only) unless Airflow 3.0 is installed; no fixture runs then."""
    if ACTIVE:
        return
    marker = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(marker)


if ACTIVE:
    if "airflow" in sys.modules:  # pragma: no cover - a guard for suite ordering mistakes
        raise RuntimeError("airflow was imported before tests/flyte_airflow_compat/conftest.py could set AIRFLOW_HOME")
    AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="flyte-airflow30-home-"))
    DAGS_FOLDER = AIRFLOW_HOME / "dags"
    DAGS_FOLDER.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
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
    )
    # DAG files and devserver workers import the sample tasks as tests.devserver.sample_tasks
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)

    def pytest_sessionfinish(session, exitstatus):
        if not os.environ.get("FLYTE_AIRFLOW_KEEP_HOME"):
            shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
else:
    AIRFLOW_HOME = DAGS_FOLDER = None  # type: ignore[assignment]

AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    result = subprocess.run(
        [AIRFLOW_BIN, "db", "migrate"], check=False, env=os.environ.copy(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return AIRFLOW_HOME


@pytest.fixture
def flyte_devserver_tasks():
    return [SAMPLE_TASKS]


@pytest.fixture
def flyte_conn(flyte_devserver, monkeypatch):
    """``flyte_default`` pointing at this test's devserver (env var connection)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLYTE_DEFAULT",
        json.dumps(
            {
                "conn_type": "flyte",
                "host": flyte_devserver.endpoint,
                "extra": {"insecure": True, "project": "flytesnacks", "domain": "development"},
            }
        ),
    )
    return flyte_devserver


class DagRunner:
    """Write a DAG file into the dags folder, load it, run it with ``dag.test()``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def run(self, body: str):
        dag_id = f"t_{uuid.uuid4().hex[:10]}"
        path = DAGS_FOLDER / f"{dag_id}.py"
        path.write_text(textwrap.dedent(body).replace("__DAG_ID__", dag_id).replace("__OUT__", str(self.tmp_path)))
        spec = importlib.util.spec_from_file_location(f"dagfile_{dag_id}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = next(v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id and hasattr(v, "test"))
        return DagResult(dag.test(), self.tmp_path)


class DagResult:
    def __init__(self, dag_run, out: Path) -> None:
        self.dag_run = dag_run
        self.out = out

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    def _tis(self):
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(TaskInstance).filter_by(dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id).all()
            for row in rows:
                session.expunge(row)
            return rows

    def states(self) -> dict[str, str]:
        return {ti.task_id: str(ti.state) for ti in self._tis()}

    def try_number(self, task_id: str) -> int:
        return next(ti.try_number for ti in self._tis() if ti.task_id == task_id)

    def xcom(self, task_id: str, key: str = "return_value"):
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id, task_id=task_id, key=key)
                .one_or_none()
            )
            return None if row is None else XComModel.deserialize_value(row)

    def read(self, name: str):
        path = self.out / name
        return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def dags(airflow_db, tmp_path) -> DagRunner:
    return DagRunner(tmp_path)
