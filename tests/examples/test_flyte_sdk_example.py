"""The README's path for a user's own Flyte 2 code: write a TaskEnvironment, start the devserver with
the project's Python, deploy with the official SDK, run the task (here with our client; the DAG and
asset versions are tests/flyte_airflow/test_sdk_tasks.py and tests/flyte_dagster/test_sdk_tasks.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.sdk_support import SDK_PYTHON, requires_sdk, run_sdk
from tests.test_readme import blocks, code_lines

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "flyte_sdk"
pytestmark = [requires_sdk, pytest.mark.timeout(240)]


def test_the_readme_shows_the_example_tasks() -> None:
    block = next(b for b in blocks("python") if "flyte.TaskEnvironment(" in b)
    assert code_lines(block) == code_lines((EXAMPLE / "tasks.py").read_text())


def _readme_command(prefix: str) -> str:
    return next(line for b in blocks("bash") for line in b.splitlines() if line.startswith(prefix))


def test_deploy_and_run_a_users_flyte_code_as_the_readme_says(tmp_path: Path) -> None:
    serve = _readme_command("flyte-devserver --port 8090 --sdk-python")
    argv = serve.replace("--port 8090", "--port 0").split()
    argv[argv.index("--sdk-python") + 1] = str(SDK_PYTHON)  # the README's "your project's Python"
    exe = str(Path(sys.executable).with_name(argv[0]))
    proc = subprocess.Popen(
        [exe, *argv[1:], "--data-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if "ready" in line:
                break
        endpoint = next(line.split(":", 1)[1].strip() for line in seen if line.startswith("endpoint:"))
        deploy = _readme_command("python examples/flyte_sdk/deploy.py")
        assert deploy.split()[2] == "localhost:8090"
        out = run_sdk("deploy.py", endpoint, cwd=EXAMPLE).stdout
        from flyte_remote_core import FlyteClient

        with FlyteClient(endpoint, insecure=True) as client:
            run = client.run("quickstart.total", {"values": [1, 2, 3]}).wait(quiet=True)
            assert run.outputs()[0] == 14, out
            assert any("squares: [1, 4, 9]" in line for line in run.logs(follow=False))
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
