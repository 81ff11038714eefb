"""WAL checkpoints wait for writes to pause: no commit pays for one (SQLite's own, after 1,000
pages, made the commit that crossed them 5-7 ms slower), and a quiet store is checkpointed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from flyte_remote_core import FlyteClient
from flyte_remote_core.devserver import DevServer
from flyte_remote_core.devserver.engine.store import QUIET_CHECKPOINT_ROWS, Store

from ..conftest import SAMPLE_TASKS

pytestmark = pytest.mark.timeout(120)

_ROW = b"x" * 3000  # about a page per row


def _commit_rows(store: Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):  # one commit each, as the engine's saves are
        store.execute("INSERT INTO inputs (uri, data) VALUES (?, ?)", (f"memory://{i}", _ROW))


def test_commits_past_a_thousand_pages_do_not_checkpoint_and_a_quiet_store_does(tmp_path: Path) -> None:
    db = tmp_path / "devserver.db"
    store = Store(db)
    try:
        size_before = db.stat().st_size
        _commit_rows(store, 1500)  # well past SQLite's own checkpoint at 1,000 pages
        assert db.stat().st_size == size_before  # every page still in the WAL: no commit checkpointed
        assert not store.checkpoint_if_quiet()  # written since the last look: not quiet yet
        assert store.checkpoint_if_quiet()  # nothing written since: quiet
        assert db.stat().st_size > size_before + 1500 * 3000  # the rows are in the database file
        assert not store.checkpoint_if_quiet()  # nothing new to copy
    finally:
        store.close()


def test_a_few_rows_are_left_in_the_wal(tmp_path: Path) -> None:
    db = tmp_path / "devserver.db"
    store = Store(db)
    try:
        size_before = db.stat().st_size
        _commit_rows(store, QUIET_CHECKPOINT_ROWS - 10)
        assert not store.checkpoint_if_quiet()
        assert not store.checkpoint_if_quiet()  # quiet, but too little to be worth a checkpoint
        assert db.stat().st_size == size_before
        _commit_rows(store, 20, start=QUIET_CHECKPOINT_ROWS)
        assert not store.checkpoint_if_quiet()
        assert store.checkpoint_if_quiet()
        assert db.stat().st_size > size_before
    finally:
        store.close()


def test_a_serving_devserver_checkpoints_once_its_runs_are_done(tmp_path: Path) -> None:
    db = tmp_path / "devserver.db"
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server:

        async def launch() -> None:
            async with FlyteClient(server.endpoint, insecure=True) as client:
                task = await client.get_task.aio("sample_tasks.add")
                runs = await asyncio.gather(*(client.run.aio(task, {"x": i, "y": 1}) for i in range(150)))
                await asyncio.gather(*(run.wait.aio(quiet=True) for run in runs))

        size_before = db.stat().st_size
        asyncio.run(launch())  # 150 runs: 900 rows written (3 inserts and 3 updates each)
        deadline = time.monotonic() + 10
        while db.stat().st_size == size_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.stat().st_size > size_before  # checkpointed while serving, once the writes paused
