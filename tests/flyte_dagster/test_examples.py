"""The example definitions load without a backend, and run against the devserver when the example tasks exist."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dagster" / "definitions.py"
HAS_TASKS = (ROOT / "examples" / "tasks.py").exists()


def _load_example():
    spec = importlib.util.spec_from_file_location("flyte_dagster_example_definitions", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


def test_example_definitions_load_without_calling_a_backend(monkeypatch):
    monkeypatch.setenv("FLYTE_ENDPOINT", "127.0.0.1:9")  # unreachable: any load-time call would fail
    defs = _load_example()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"total", "readings", "summary", "greeting", "report"} <= keys
    assert defs.resolve_job_def("slow_job") is not None


@pytest.mark.skipif(not HAS_TASKS, reason="examples/tasks.py is not written yet")
@pytest.mark.flyte_devserver_tasks("examples.tasks")
def test_example_assets_materialize_against_the_devserver(flyte_devserver, monkeypatch):
    monkeypatch.setenv("FLYTE_ENDPOINT", flyte_devserver.endpoint)
    monkeypatch.setenv("FLYTE_INSECURE", "1")
    defs = _load_example()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        asset_selection=[dg.AssetKey(k) for k in ("total", "readings", "summary", "report")]
    )
    assert result.success
    assert result.output_for_node("report") == "total=3 mean=9.0"
    from examples.tasks import Stats

    summary = result.output_for_node("summary")
    assert isinstance(summary, Stats) and summary.count == 5


# -- the commands the example docstrings and README give, run as a user would --------------

COMPONENTS_PROJECT = ROOT / "examples" / "dagster" / "flyte_components"
BIN = Path(sys.executable).parent


def _cli(args: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "DAGSTER_HOME": str(tmp_path),  # else `dagster` makes a temporary home in the working directory
        "FLYTE_ENDPOINT": "127.0.0.1:9",  # unreachable: loading must not call the backend
        "NO_COLOR": "1",
    }
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_dagster_definitions_validate_accepts_the_example(tmp_path):
    # The command in examples/dagster/definitions.py's docstring.
    done = _cli(
        [str(BIN / "dagster"), "definitions", "validate", "-f", "examples/dagster/definitions.py"], ROOT, tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_dg_list_components_shows_the_flyte_component(tmp_path):
    done = _cli([str(BIN / "dg"), "list", "components", "--json"], COMPONENTS_PROJECT, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    items = {item["key"]: item for item in json.loads(done.stdout)["items"]}
    assert "flyte_dagster.FlyteTaskComponent" in items, sorted(items)
    assert "Flyte task" in items["flyte_dagster.FlyteTaskComponent"]["summary"]


def test_dg_check_defs_loads_the_components_project(tmp_path):
    done = _cli([str(BIN / "dg"), "check", "defs"], COMPONENTS_PROJECT, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr
