"""The example definitions load without a backend, and run against the devserver when the example tasks exist."""

import importlib.util
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
        asset_selection=[dg.AssetKey(k) for k in ("total", "readings", "summary", "report")])
    assert result.success
    assert result.output_for_node("report") == "total=3 mean=9.0"
    from examples.tasks import Stats

    summary = result.output_for_node("summary")
    assert isinstance(summary, Stats) and summary.count == 5
