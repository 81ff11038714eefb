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


def test_a_run_is_written_once_per_phase_change_and_knows_its_log_and_outputs_from_the_start(tmp_path):
    # Where the attempt's log and outputs go is recorded when the run is inserted, so its launch
    # writes nothing of its own; a run's phase is its root action's, so a save writes one row.
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server, server.client() as client:
        task = client.get_task("sample_tasks.add")
        client.run(task, {"x": 1, "y": 2}).wait(quiet=True)
        server.admin.hold(all_new_runs=True)
        statements: list[str] = []
        server._backend.store.db.set_trace_callback(statements.append)
        try:
            run = client.run(task, {"x": 2, "y": 3})
            run.wait(quiet=True, wait_for="running")
            held = run.action.details()
            server.admin.release(run.name)
            run.wait(quiet=True)
            # The end is written right after its watchers are told (Store.execute_soon); a
            # listing is a query, which runs it first.
            listed = {r.name: r for r in client.list_runs()}  # the listing shows the root action's phase
        finally:
            server._backend.store.db.set_trace_callback(None)
        assert run.phase == "SUCCEEDED"
        writes = [s.strip() for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
        assert [s.split(" (")[0] for s in writes if s.startswith("INSERT")] == [
            "INSERT INTO runs", "INSERT INTO actions", "INSERT OR IGNORE INTO inputs"
        ]  # fmt: skip
        updates = [s for s in writes if not s.startswith("INSERT")]
        assert len(updates) == 3  # INITIALIZING, RUNNING, SUCCEEDED: nothing for the launch itself
        assert all(s.startswith("UPDATE actions SET") and f"'{run.name}'" in s for s in updates)
        attempt = held.pb2.attempts[-1]
        assert [i.uri for i in attempt.log_info] == [
            f"{tmp_path.as_uri()}/logs/flytesnacks/development/{run.name}/a0/1.log"
        ]
        assert attempt.outputs.output_uri == run.action.details().pb2.attempts[-1].outputs.output_uri
        assert attempt.outputs.output_uri.endswith(f"/runs/flytesnacks/development/{run.name}/a0/1/outputs.pb")
        assert run.outputs()["o0"] == 5
        assert listed[run.name].phase == "SUCCEEDED"


def test_runs_that_ended_every_way_leave_nothing_behind_but_their_rows(tmp_path):
    # A long-lived devserver (a whole CI run, a benchmark) must not keep something per finished
    # run in memory: such leftovers made every full garbage collection longer, run after run.
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server, server.client() as client:
        add = client.get_task("sample_tasks.add")
        done = [client.run(add, {"x": i, "y": 1}) for i in range(20)]
        retried = client.run(client.get_task("sample_tasks.flaky"), {"marker": str(tmp_path / "marker")})
        slow = client.run(client.get_task("sample_tasks.sleepy"), {"seconds": 30.0})
        slow.wait(quiet=True, wait_for="running")
        slow.abort()
        server.admin.hold(all_new_runs=True)
        held = [client.run(add, {"x": i, "y": 2}) for i in range(5)]
        for run in held:
            run.wait(quiet=True, wait_for="running")
        server.admin.release()
        for run in [*done, retried, slow, *held]:
            run.wait(quiet=True)
        assert retried.phase == "SUCCEEDED" and retried.action.details().pb2.status.attempts == 2
        assert slow.phase == "ABORTED"
        engine = server._backend.engine
        assert engine.attempts._targets == {}
        assert engine.holds.stashed == {} and engine.holds.held == set()
        assert engine.queue.in_flight == 0
