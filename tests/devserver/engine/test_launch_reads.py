"""What a launch costs the store: a run from CreateRun to its end reads no action, project,
task or inputs row from SQL once the server is warm (engine/actions.py, engine/catalog.py and
engine/inputs.py keep the rows they write), and a run without nested actions asks nobody for
its children. Its own rows are still written, and a nested run still finds its children
(tests/devserver/sdk). The worker pool's task is handed its inputs: no file is written."""

from __future__ import annotations

import pytest

from flyte_remote_core.devserver import DevServer

from ..conftest import SAMPLE_TASKS

pytestmark = pytest.mark.timeout(60)


def test_a_run_from_launch_to_its_end_reads_no_row_from_sql(tmp_path):
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server, server.client() as client:
        task = client.get_task("sample_tasks.add")
        client.run(task, {"x": 1, "y": 2}).wait(quiet=True)  # warm: the first launch looks its task up
        statements: list[str] = []
        # The store's own connection is the only way to see the statements the engine runs.
        server._backend.store.db.set_trace_callback(statements.append)
        try:
            run = client.run(task, {"x": 2, "y": 3})
            run.wait(quiet=True)
        finally:
            server._backend.store.db.set_trace_callback(None)
        assert run.phase == "SUCCEEDED"
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        tables = ("actions", "projects", "tasks", "inputs")
        engine_reads = [s for s in reads if any(f"FROM {t} " in s + " " for t in tables)]
        assert engine_reads == []
        writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        assert any(s.startswith("INSERT INTO runs") for s in writes)
        assert any(s.startswith("INSERT OR IGNORE INTO inputs") for s in writes)
        assert not (tmp_path / "storage" / "inputs").exists()
        assert any(s.startswith("UPDATE actions") and f"'{run.name}'" in s for s in writes)
