"""A saved change is told first and written straight after (Store.execute_soon).

The watch streams a save wakes run before its UPDATE and commit, which cost 150-250 µs
from cold caches after a quiet spell, and were the largest piece of a run's end before
its waiters heard of it. Nothing else may see the state without the write: it runs before
any later callback of the loop and before any statement, a burst of saves is one commit,
close() writes what waits, and a write that fails is logged, not raised at a bystander.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from flyteidl2.workflow import run_definition_pb2 as rd

from flyte_remote_core.devserver.engine.actions import ActionStore
from flyte_remote_core.devserver.engine.events import RUNS_TOPIC, Hub
from flyte_remote_core.devserver.engine.inputs import InputStore
from flyte_remote_core.devserver.engine.store import Store

pytestmark = pytest.mark.timeout(60)

RUNNING, SUCCEEDED = 4, 5


def _actions(path: Path, runs: list[str]) -> ActionStore:
    store = Store(path / "devserver.db")
    with store.transaction() as db:
        for name in runs:
            db.execute(
                "INSERT INTO actions (project, domain, run, name, created_at, updated_at, phase, inputs_uri,"
                " outputs_uri, details) VALUES ('p', 'd', ?, 'a0', 0, 0, ?, '', '', x'')",
                (name, RUNNING),
            )
    return ActionStore(store=store, hub=Hub(), inputs=InputStore(store, path))


def _ended(run: str) -> rd.ActionDetails:
    det = rd.ActionDetails()
    det.id.run.project, det.id.run.domain, det.id.run.name, det.id.name = "p", "d", run, "a0"
    det.status.phase = SUCCEEDED
    return det


def _phase(store: Store, run: str) -> int:
    row = store.one("SELECT phase FROM actions WHERE run=?", (run,))
    assert row is not None
    return int(row[0])


def test_the_woken_watchers_run_before_the_write_and_every_later_callback_after_it(tmp_path: Path) -> None:
    actions = _actions(tmp_path, ["r1"])
    db = actions.store.db

    async def scenario() -> dict[str, int]:
        seen: dict[str, int] = {}
        with actions.hub.subscribe(RUNS_TOPIC) as sub:

            async def watcher() -> None:
                items = await sub.wait()
                assert items == {("p", "d", "r1")}
                seen["watcher"] = db.total_changes

            task = asyncio.ensure_future(watcher())
            await asyncio.sleep(0)  # the watcher waits
            before = db.total_changes
            actions.save(_ended("r1"))
            seen["after save"] = db.total_changes - before
            asyncio.get_running_loop().call_soon(lambda: seen.setdefault("later", db.total_changes - before))
            await task
            seen["watcher"] -= before
            await asyncio.sleep(0)
        return seen

    try:
        seen = asyncio.run(scenario())
        assert seen == {"after save": 0, "watcher": 0, "later": 1}
        assert _phase(actions.store, "r1") == SUCCEEDED
    finally:
        actions.store.close()


def test_a_statement_runs_the_waiting_write_first_and_it_is_not_written_twice(tmp_path: Path) -> None:
    actions = _actions(tmp_path, ["r1"])
    statements: list[str] = []

    async def scenario() -> None:
        actions.save(_ended("r1"))
        actions.store.db.set_trace_callback(statements.append)
        assert _phase(actions.store, "r1") == SUCCEEDED  # a query: the write goes first
        await asyncio.sleep(0.01)  # the write's own turn comes and finds nothing to do

    try:
        asyncio.run(scenario())
        assert [s.split(" ")[0] for s in statements] == ["UPDATE", "SELECT"]
    finally:
        actions.store.close()


def test_a_burst_of_saves_is_one_commit_and_every_row_is_written(tmp_path: Path) -> None:
    runs = [f"r{i}" for i in range(200)]
    actions = _actions(tmp_path, runs)
    statements: list[str] = []
    actions.store.db.set_trace_callback(statements.append)

    async def scenario() -> None:
        for run in runs:
            actions.save(_ended(run))
        await asyncio.sleep(0)

    try:
        asyncio.run(scenario())
        actions.store.db.set_trace_callback(None)
        assert [s for s in statements if not s.startswith("UPDATE")] == ["BEGIN", "COMMIT"]
        assert sum(s.startswith("UPDATE actions") for s in statements) == 200
        assert {_phase(actions.store, run) for run in runs} == {SUCCEEDED}
    finally:
        actions.store.close()


def test_close_writes_what_waits(tmp_path: Path) -> None:
    actions = _actions(tmp_path, ["r1"])

    async def scenario() -> None:
        actions.save(_ended("r1"))
        actions.store.close()  # a stop in the same turn: before the write's own turn

    asyncio.run(scenario())
    reopened = Store(tmp_path / "devserver.db")
    try:
        assert _phase(reopened, "r1") == SUCCEEDED
    finally:
        reopened.close()


def test_without_a_running_loop_or_inside_a_transaction_the_write_runs_at_once(tmp_path: Path) -> None:
    actions = _actions(tmp_path, ["r1", "r2"])
    store = actions.store
    try:
        before = store.db.total_changes
        actions.save(_ended("r1"))  # no event loop here
        assert store.db.total_changes == before + 1
        with pytest.raises(RuntimeError, match="undo"), store.transaction():
            store.execute_soon("UPDATE actions SET phase=? WHERE run=?", (SUCCEEDED, "r2"))
            assert store.db.total_changes == before + 2  # part of the transaction...
            raise RuntimeError("undo")
        assert _phase(store, "r2") == RUNNING  # ...and rolled back with it
    finally:
        store.close()


def test_a_write_that_fails_is_logged_and_the_others_of_its_burst_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    actions = _actions(tmp_path, ["r1", "bad", "r3"])
    store = actions.store
    store.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON actions WHEN NEW.run = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )

    async def scenario() -> None:
        for run in ("r1", "bad", "r3"):
            actions.save(_ended(run))
        await asyncio.sleep(0)

    try:
        with caplog.at_level(logging.ERROR, logger="flyte_remote_core.devserver"):
            asyncio.run(scenario())
        assert [_phase(store, run) for run in ("r1", "bad", "r3")] == [SUCCEEDED, RUNNING, SUCCEEDED]
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "could not be written" in errors[0] and "refused" in errors[0] and str(store.path) in errors[0]
        assert not store.db.in_transaction
    finally:
        store.close()
