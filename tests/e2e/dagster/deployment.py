"""A real Dagster 1.13 deployment for end-to-end tests: ``dagster-webserver``, ``dagster-daemon run``
and, for some locations, ``dagster code-server start``, as separate processes (DefaultRunLauncher:
each run in its own run worker process; QueuedRunCoordinator: the daemon launches queued runs;
SQLite storage in ``DAGSTER_HOME``), with run monitoring and run retries on, driven through the
GraphQL API as the UI drives it. Everything binds to 127.0.0.1; every process group is stopped,
even after a partial start."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
REPOSITORY = "__repository__"  # the repository a Definitions object becomes
ASSET_JOB = "__ASSET_JOB"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_queue:
  dequeue_interval_seconds: 1
run_monitoring:
  enabled: true
  poll_interval_seconds: 1
  start_timeout_seconds: 180
  cancel_timeout_seconds: 60
  max_resume_run_attempts: 0
run_retries:
  enabled: true
  max_retries: 1
code_servers:
  local_startup_timeout: 180
  reload_timeout: 180
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""
RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status rootRunId parentRunId tags { key value } }
  }
}
"""
RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status rootRunId parentRunId tags { key value } } }
  }
}
"""
LOGS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message }
        ... on ErrorEvent { error { message } }
      }
    }
  }
}
"""
TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""
RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry {
      name
      loadStatus
      locationOrLoadError { __typename ... on PythonError { message } }
    }
    ... on PythonError { message }
  }
}
"""
WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } } } }
        }
      }
    }
  }
}
"""
MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 20) {
        runId
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
    }
  }
}
"""


class Deployment:
    """The running deployment: its home, its GraphQL API, its processes' logs."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.log_files: list[Any] = []
        self.env: dict[str, str] = {}  # the processes' environment (for a CLI run beside them)
        self.http = httpx.Client(base_url=self.url, timeout=120)

    # -- GraphQL ------------------------------------------------------------------------
    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        resp = self.http.post("/graphql", json={"query": query, "variables": variables})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def launch(
        self,
        location: str,
        assets: list[str],
        *,
        tags: dict[str, str] | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> str:
        """What the UI's "Materialize" button sends: the asset job, a selection of its assets."""
        params = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": REPOSITORY,
                "jobName": ASSET_JOB,
                "assetSelection": [{"path": [a]} for a in assets],
            },
            "runConfigData": run_config or {},
            "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        result = self.graphql(LAUNCH, params=params)["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.graphql(RUN, runId=run_id)["runOrError"]
        assert result["__typename"] == "Run", result
        result["tags"] = {t["key"]: t["value"] for t in result["tags"]}
        return result

    def status(self, run_id: str) -> str:
        return str(self.run(run_id)["status"])

    def runs(self, **tags: str) -> list[dict[str, Any]]:
        filt = {"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}
        result = self.graphql(RUNS, filter=filt)["runsOrError"]
        assert result["__typename"] == "Runs", result
        runs: list[dict[str, Any]] = result["results"]
        for r in runs:
            r["tags"] = {t["key"]: t["value"] for t in r["tags"]}
        return runs

    def wait_status(self, run_id: str, statuses: set[str], timeout: float) -> str:
        wait_until(lambda: self.status(run_id) in statuses, timeout, f"run {run_id} in {statuses}", self, run_id)
        return self.status(run_id)

    def messages(self, run_id: str) -> list[str]:
        """The run's event messages; a failure event's error message follows its own."""
        result = self.graphql(LOGS, runId=run_id)["logsForRun"]
        assert result["__typename"] == "EventConnection", result
        out: list[str] = []
        for event in result["events"]:
            if event.get("message"):
                out.append(event["message"])
            if (event.get("error") or {}).get("message"):
                out.append(event["error"]["message"])
        return out

    def worker_pid(self, run_id: str) -> int | None:
        """The run worker's pid, as the run's "Started process for run (pid: N)." engine event says."""
        for message in self.messages(run_id):
            found = re.match(r"Started process for run \(pid: (\d+)\)", message)
            if found:
                return int(found.group(1))
        return None

    def terminate(self, run_id: str) -> None:
        result = self.graphql(TERMINATE, runId=run_id)["terminateRun"]
        assert result["__typename"] == "TerminateRunSuccess", result

    def reload(self, location: str) -> dict[str, Any]:
        result: dict[str, Any] = self.graphql(RELOAD, name=location)["reloadRepositoryLocation"]
        assert result["__typename"] == "WorkspaceLocationEntry", result
        return result

    def locations(self) -> dict[str, dict[str, Any]]:
        result = self.graphql(WORKSPACE)["workspaceOrError"]
        assert result["__typename"] == "Workspace", result
        return {e["name"]: e for e in result["locationEntries"]}

    def materializations(self, asset: str) -> list[dict[str, Any]]:
        result = self.graphql(MATERIALIZATIONS, key={"path": [asset]})["assetOrError"]
        if result["__typename"] != "Asset":
            return []
        mats: list[dict[str, Any]] = result["assetMaterializations"]
        for m in mats:
            m["metadata"] = {e["label"]: e.get("text") for e in m["metadataEntries"]}
        return mats

    def logs(self, run_id: str | None = None) -> str:
        out = []
        for name in self.procs:
            path = self.home / f"{name}.log"
            out.append(f"==== {name}\n{path.read_text(errors='replace')[-6000:] if path.exists() else ''}")
        if run_id is not None:
            try:
                out.append(f"==== run {run_id}\n" + "\n".join(self.messages(run_id)[-60:]))
            except Exception as exc:  # the logs are a diagnostic only
                out.append(f"==== run {run_id}: {exc}")
        return "\n".join(out)


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    deployment: Deployment | None = None,
    run_id: str | None = None,
    interval: float = 0.5,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for: {what}\n{deployment.logs(run_id) if deployment else ''}")


def descendants(pid: int) -> list[int]:
    """The pids of ``pid``'s descendants (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill9_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and its descendants (a lost worker machine: nothing gets to clean up)."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return victims


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER", "FLYTE_"))}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": str(REPO),
            # the run-retry daemon's tick (default 5 s)
            "DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS": "1",
            **extra,
        }
    )
    return env


def _grpc_up(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient  # the client the webserver uses

    try:
        DagsterGrpcClient(port=port, host="127.0.0.1").ping("e2e")
    except Exception:  # not serving yet
        return False
    return True


@contextmanager
def dagster_deployment(
    home: Path,
    locations: dict[str, str],
    env: dict[str, str] | None = None,
    *,
    code_servers: Collection[str] = (),
) -> Iterator[Deployment]:
    """Write ``dagster.yaml``, one code location per ``locations`` entry (name -> definitions source)
    and ``workspace.yaml``; start the code servers, the webserver and the daemon; yield once GraphQL
    answers and every location has loaded.

    The webserver and the daemon each start a code server of their own for a ``python_file``
    location, and the daemon starts its ones again every 60 s (``RELOAD_WORKSPACE_INTERVAL`` in
    ``dagster/_daemon/controller.py``): such a location is loaded at moments no test chooses. The
    locations named in ``code_servers`` are served instead by one ``dagster code-server start``
    process each (a ``grpc_server`` entry, as in a containerized deployment), which both share:
    it loads the definitions when it starts and on each reloadRepositoryLocation, nowhere else."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    code = home / "code"
    code.mkdir(exist_ok=True)
    entries = []
    ports: dict[str, int] = {}
    for name, source in locations.items():
        (code / f"{name}.py").write_text(source)
        if name in code_servers:
            ports[name] = free_port()
            entries.append(
                f"  - grpc_server:\n      host: 127.0.0.1\n      port: {ports[name]}\n      location_name: {name}\n"
            )
        else:
            entries.append(
                f"  - python_file:\n      relative_path: code/{name}.py\n      location_name: {name}\n"
                f"      working_directory: {REPO}\n      executable_path: {sys.executable}\n"
            )
    (home / "workspace.yaml").write_text("load_from:\n" + "".join(entries))
    port = free_port()
    deployment = Deployment(home, port)
    environment = deployment.env = _env(home, env or {})
    workspace = ["-w", str(home / "workspace.yaml")]
    servers = {
        f"code-server-{name}": [
            str(BIN / "dagster"),
            *("code-server", "start", "-h", "127.0.0.1", "-p", str(server_port), "--location-name", name),
            *("-f", str(code / f"{name}.py"), "-d", str(REPO)),
        ]
        for name, server_port in ports.items()
    }
    components = {
        "webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), *workspace],
        "daemon": [str(BIN / "dagster-daemon"), "run", *workspace],
    }
    # Create the SQLite storage once, first: the webserver and the daemon race to create it otherwise
    # ("table secondary_indexes already exists").
    migrate = subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"],
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

    def start(name: str, argv: list[str]) -> None:
        log = open(home / f"{name}.log", "wb")  # noqa: SIM115 (closed by stop)
        deployment.log_files.append(log)
        deployment.procs[name] = subprocess.Popen(
            argv, cwd=home, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive() -> None:
        for proc_name, proc in deployment.procs.items():
            assert proc.poll() is None, f"{proc_name} exited\n{deployment.logs()}"

    def loaded() -> bool:
        alive()
        shown = deployment.locations()
        return set(shown) == set(locations) and all(e["loadStatus"] == "LOADED" for e in shown.values())

    try:
        for name, argv in servers.items():
            start(name, argv)
        for name, server_port in ports.items():

            def serving(p: int = server_port) -> bool:
                alive()
                return _grpc_up(p)

            wait_until(serving, 180, f"the code server of {name}", deployment)
        for name, argv in components.items():
            start(name, argv)
        wait_until(loaded, 240, "the webserver and its code locations", deployment)
        yield deployment
    finally:
        stop(deployment)


def stop(deployment: Deployment) -> None:
    """SIGTERM every process group, SIGKILL what is left after 10 s, and the groups' stragglers."""
    deployment.http.close()
    for proc in deployment.procs.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for proc in deployment.procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in deployment.procs.values():
        try:  # the group outlives its leader when a child (a code server, a run worker) lingers
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    for log in deployment.log_files:
        log.close()
