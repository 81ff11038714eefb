"""A real Airflow 3 deployment for end-to-end tests: api-server, scheduler, dag-processor and
triggerer as separate processes (LocalExecutor, SQLite metadata DB), driven through the REST API
as the UI drives it. Everything binds to 127.0.0.1; every process is stopped, even after a
partial start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMPONENTS = (
    ("api-server", ["api-server", "--host", "127.0.0.1", "--port", "{port}"]),
    ("scheduler", ["scheduler"]),
    ("dag-processor", ["dag-processor"]),
    ("triggerer", ["triggerer"]),
)
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connection_json(endpoint: str) -> str:
    extra = {"insecure": True, "project": "flytesnacks", "domain": "development"}
    return json.dumps({"conn_type": "flyte", "host": endpoint, "extra": extra})


class Deployment:
    """The running deployment: its home, its REST API, its processes' logs."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.dags = home / "dags"
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._api: httpx.Client | None = None

    # -- REST API -----------------------------------------------------------------------
    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            token = httpx.get(f"{self.url}/auth/token", timeout=30).json()["access_token"]
            self._api = httpx.Client(
                base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
        return self._api

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        wait_until(lambda: self.api.get(f"/dags/{dag_id}").status_code == 200, timeout, f"DAG {dag_id} parsed")

    def trigger(self, dag_id: str) -> str:
        self.wait_for_dag(dag_id)
        resp = self.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert resp.status_code in (200, 201), resp.text
        return str(resp.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()
        return result

    def wait_dag_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        wait_until(lambda: self.dag_run(dag_id, run_id)["state"] in TERMINAL, timeout, f"{dag_id} ends", self)
        return str(self.dag_run(dag_id, run_id)["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        resp = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        result: list[dict[str, Any]] = resp.json()["task_instances"]
        return result

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}").json()
        return result

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}
        resp = self.api.post(f"/dags/{dag_id}/clearTaskInstances", json=body)
        assert resp.status_code == 200, resp.text

    def logs(self) -> str:
        out = []
        for name in self.procs:
            path = self.home / f"{name}.log"
            out.append(f"==== {name}\n{path.read_text(errors='replace')[-4000:] if path.exists() else ''}")
        return "\n".join(out)


def wait_until(check: Callable[[], bool], timeout: float, what: str, deployment: Deployment | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for: {what}\n{deployment.logs() if deployment else ''}")


def _env(home: Path, port: int, flyte_endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("AIRFLOW")]:
        del env[key]  # nothing from the test session's own Airflow settings
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-jwt-secret-not-a-real-one",
            "AIRFLOW__API__SECRET_KEY": "e2e-secret-key-not-a-real-one",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The supervisor otherwise notices a task process's exit up to 5 s late (README).
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW_CONN_FLYTE_DEFAULT": connection_json(flyte_endpoint),
            "PYTHONPATH": str(REPO),
        }
    )
    return env


@contextmanager
def airflow_deployment(home: Path, flyte_endpoint: str, dag_files: dict[str, str]) -> Iterator[Deployment]:
    """Migrate the DB, write ``dag_files``, start the four components, yield once the API answers."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dags").mkdir(exist_ok=True)
    for name, source in dag_files.items():
        (home / "dags" / name).write_text(source)
    env = _env(home, port, flyte_endpoint)
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    deployment = Deployment(home, port)
    try:
        for name, argv in COMPONENTS:
            log = open(home / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
            args = [a.format(port=port) for a in argv]
            deployment.procs[name] = subprocess.Popen(
                [AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(
            lambda: httpx.get(f"{deployment.url}/api/v2/monitor/health", timeout=5).status_code == 200,
            180,
            "the API server",
            deployment,
        )
        yield deployment
    finally:
        stop(deployment)


def stop(deployment: Deployment) -> None:
    if deployment._api is not None:
        deployment._api.close()
    for proc in deployment.procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in deployment.procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
