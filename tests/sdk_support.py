"""The official Flyte 2 SDK as a client no one here wrote: its venv, its scripts, a devserver for it.

The SDK lives in ``.venv-sdk`` (``make install-sdk``) and is never imported by the suite: it runs
in subprocesses (``tests/devserver/sdk/project``), against a devserver started with
``sdk_python`` pointing at that interpreter. The fixtures are session-wide, so the devserver,
the Airflow and the Dagster tests share one server and one deployment of the project.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"
SDK_CLI = SDK_PYTHON.with_name("flyte")
PROJECT = REPO / "tests" / "devserver" / "sdk" / "project"
_MISSING = f"the official SDK is not installed in {SDK_PYTHON.parent.parent} (make install-sdk)"

requires_sdk = pytest.mark.skipif(not SDK_PYTHON.exists(), reason=_MISSING)


def _sdk_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200", NO_COLOR="1")
    env.pop("PYTHONPATH", None)  # the SDK's venv must not see this repo's packages
    return env


def run_sdk(script: str, *args: str, cwd: Path = PROJECT, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``script`` (a file of ``cwd``) under the SDK's Python; its output, checked."""
    proc = subprocess.run(
        [str(SDK_PYTHON), script, *args], cwd=cwd, env=_sdk_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def flyte_cli(endpoint: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The SDK's own ``flyte`` command line against ``endpoint``; its output, checked."""
    cmd = [str(SDK_CLI), "--endpoint", endpoint, "--insecure", "--no-progress", *args]
    proc = subprocess.run(cmd, cwd=PROJECT, env=_sdk_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr}"
    return proc


def last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise AssertionError(f"no JSON in the output:\n{stdout[-3000:]}")


@pytest.fixture(scope="session")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A devserver that runs SDK-deployed tasks with the SDK's Python."""
    if not SDK_PYTHON.exists():
        pytest.skip(_MISSING)
    from flyte_remote_core.devserver import DevServer

    srv = DevServer(data_dir=tmp_path_factory.mktemp("sdk-devserver"), sdk_python=SDK_PYTHON, workers=3)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def sdk_deployed(sdk_server: Any) -> Any:
    """The project's environments deployed with ``flyte.deploy`` (tasks ``sdkt.*`` and ``sdkimg.*``)."""
    run_sdk("deploy.py", sdk_server.endpoint)
    return sdk_server
