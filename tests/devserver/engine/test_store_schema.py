"""The state database's layout: only the live actions are indexed by phase (a save of a
finished action touches no phase index page), a restart finds what was left live through that
index, and a run's phase is its root action's. A data folder written by an earlier version
(an index of every phase, phase columns in the runs table) is upgraded and serves on."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from flyte_remote_core.devserver import DevServer
from flyte_remote_core.devserver.engine import recovery
from flyte_remote_core.devserver.engine.store import Store

from ..conftest import SAMPLE_TASKS

pytestmark = pytest.mark.timeout(120)


def _indexes(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:  # closed: an open WAL reader keeps a lock
        return {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='actions'")
        }


def test_the_live_actions_query_reads_the_live_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "devserver.db")
    try:
        plan = " ".join(str(row[-1]) for row in store.all("EXPLAIN QUERY PLAN " + recovery._LIVE_SQL))
    finally:
        store.close()
    assert "USING INDEX actions_live" in plan, plan


def test_a_folder_with_the_old_phase_index_is_upgraded_and_its_live_run_resumed(tmp_path: Path) -> None:
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server, server.client() as client:
        server.admin.hold(all_new_runs=True)
        finished = client.run(client.get_task("sample_tasks.add"), {"x": 1, "y": 2})
        server.admin.release(finished.name)
        finished.wait(quiet=True)
        server.admin.hold(all_new_runs=True)
        live = client.run(client.get_task("sample_tasks.add"), {"x": 2, "y": 3})
        live.wait(quiet=True, wait_for="running")
    db = tmp_path / "devserver.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:  # what an earlier version left: an index of every phase
        conn.execute("CREATE INDEX actions_phase ON actions (phase)")
        conn.execute("ALTER TABLE runs ADD COLUMN phase INTEGER")  # left as they were, never updated again
        conn.execute("ALTER TABLE runs ADD COLUMN updated_at REAL")
        conn.commit()
    assert "actions_phase" in _indexes(db)

    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server, server.client() as client:
        deadline = time.monotonic() + 60
        resumed = client.get_run(live.name)
        while not resumed.done() and time.monotonic() < deadline:
            time.sleep(0.05)
            resumed = client.get_run(live.name)
        assert resumed.phase == "FAILED"  # no retries left: failed with the restart as its reason
        assert client.get_run(finished.name).phase == "SUCCEEDED"
        new = client.run(client.get_task("sample_tasks.add"), {"x": 3, "y": 4})
        new.wait(quiet=True)
        listed = {run.name: run.phase for run in client.list_runs()}
        assert listed == {finished.name: "SUCCEEDED", live.name: "FAILED", new.name: "SUCCEEDED"}
    indexes = _indexes(db)
    assert "actions_phase" not in indexes
    assert "actions_live" in indexes
