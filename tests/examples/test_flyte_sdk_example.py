"""The README's path for a user's own Flyte 2 code: write a TaskEnvironment, start the devserver with
the project's Python, deploy with the official SDK, run the task (here with our client; the DAG and
asset versions are tests/flyte_airflow/test_sdk_tasks.py and tests/flyte_dagster/test_sdk_tasks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sdk_support import SDK_PYTHON, requires_sdk, run_sdk
from tests.test_readme import blocks, code_lines, devserver_started_as, readme_command

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "flyte_sdk"
pytestmark = [requires_sdk, pytest.mark.timeout(240)]


def test_the_readme_shows_the_example_tasks() -> None:
    block = next(b for b in blocks("python") if "flyte.TaskEnvironment(" in b)
    assert code_lines(block) == code_lines((EXAMPLE / "tasks.py").read_text())


def test_deploy_and_run_a_users_flyte_code_as_the_readme_says(tmp_path: Path) -> None:
    argv = readme_command("flyte-devserver --port 8090 --sdk-python").replace("--port 8090", "--port 0").split()
    argv[argv.index("--sdk-python") + 1] = str(SDK_PYTHON)  # the README's "your project's Python"
    with devserver_started_as([*argv, "--data-dir", str(tmp_path)]) as endpoint:
        deploy = readme_command("python examples/flyte_sdk/deploy.py")
        assert deploy.split()[2] == "localhost:8090"
        out = run_sdk("deploy.py", endpoint, cwd=EXAMPLE).stdout
        from flyte_remote_core import FlyteClient

        with FlyteClient(endpoint, insecure=True) as client:
            run = client.run("quickstart.total", {"values": [1, 2, 3]}).wait(quiet=True)
            assert run.outputs()[0] == 14, out
            assert any("squares: [1, 4, 9]" in line for line in run.logs(follow=False))
