"""A ListRuns page in the default order reads that page, through indexes, not every run of the
scope: live runs first, then ended ones, newest first in each, pages chaining without gaps or
repeats. Before, each page read and sorted every run (300-500 ms with 50,000 runs) while every
stream of the server waited."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.workflow import run_service_pb2, run_service_pb2_grpc

from flyte_remote_core import FlyteClient
from flyte_remote_core.devserver import DevServer
from flyte_remote_core.devserver.engine.actions import ActionStore
from flyte_remote_core.devserver.engine.events import Hub
from flyte_remote_core.devserver.engine.model import TERMINAL_PHASES
from flyte_remote_core.devserver.engine.store import Store

from ..conftest import SAMPLE_TASKS

pytestmark = pytest.mark.timeout(120)

LIVE, ENDED = 4, 5  # RUNNING, SUCCEEDED


def _store_with_runs(path: Path, phases: list[int], tasks: list[str] | None = None) -> Store:
    store = Store(path)
    with store.transaction() as db:
        for i, phase in enumerate(phases):
            name = f"r{i:05d}"
            db.execute(
                "INSERT INTO runs (project, domain, name, org, created_at, task_name, task_version, trigger_name,"
                " run_spec) VALUES ('p', 'd', ?, '', ?, ?, 'v', '', x'')",
                (name, float(i % 7), tasks[i] if tasks else "t"),  # many runs share a creation time
            )
            db.execute(
                "INSERT INTO actions (project, domain, run, name, created_at, updated_at, phase, inputs_uri,"
                " outputs_uri, details) VALUES ('p', 'd', ?, 'a0', ?, ?, ?, '', '', x'')",
                (name, float(i % 7), float(i), phase),
            )
    return store


def _all_pages(actions: ActionStore, limit: int) -> list[Any]:
    rows: list[Any] = []
    more = True
    while more:
        scope = [("project", "p"), ("domain", "d")]
        page, more = actions.run_page(scope, skip_empty=False, offset=len(rows), limit=limit)
        assert page or not more
        rows += page
    return rows


@pytest.mark.parametrize("limit", [1, 7, 50, 1000])
def test_pages_chain_in_the_default_order(tmp_path: Path, limit: int) -> None:
    phases = [LIVE if i % 3 == 0 else ENDED for i in range(300)]
    store = _store_with_runs(tmp_path / "devserver.db", phases)
    try:
        actions = ActionStore(store, Hub(), None)  # type: ignore[arg-type]  # no inputs are read
        rows = _all_pages(actions, limit)
        names = [r[2] for r in rows]
        assert len(names) == len(set(names)) == 300  # every run once
        keys = [(r[3] in TERMINAL_PHASES, -r[4]) for r in rows]
        assert keys == sorted(keys)  # live first, then ended; newest first in each
        assert sum(1 for r in rows if r[3] == LIVE) == 100
    finally:
        store.close()


def test_a_page_reads_through_indexes(tmp_path: Path) -> None:
    store = _store_with_runs(tmp_path / "devserver.db", [LIVE, ENDED] * 10)
    plans: list[str] = []
    real_all = store.all

    def all_with_plans(sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        plans.append(" | ".join(str(row[-1]) for row in real_all("EXPLAIN QUERY PLAN " + sql, args)))
        return real_all(sql, args)

    store.all = all_with_plans  # type: ignore[method-assign]
    try:
        ActionStore(store, Hub(), None).run_page(  # type: ignore[arg-type]
            [("project", "p"), ("domain", "d")], skip_empty=False, offset=5, limit=10
        )
    finally:
        store.close()
    live, ended = plans
    assert "actions_live" in live and "TEMP B-TREE" not in live, live
    assert "runs_scope" in ended and "TEMP B-TREE" not in ended and "SCAN" not in ended, ended


def test_list_runs_pages_over_the_wire(tmp_path: Path) -> None:
    """Over gRPC: held runs first, then the finished ones, newest first; the token chains the pages."""
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as server:

        async def scenario() -> tuple[list[str], list[str], list[str]]:
            scope = {"project": "flytesnacks", "domain": "development"}
            async with FlyteClient(server.endpoint, insecure=True, **scope) as client:
                task = await client.get_task.aio("sample_tasks.add")
                finished = [await client.run.aio(task, {"x": i, "y": 1}) for i in range(5)]
                for run in finished:
                    await run.wait.aio(quiet=True)
                server.admin.hold(all_new_runs=True)
                held = [await client.run.aio(task, {"x": i, "y": 1}) for i in range(4)]  # live until released
                listed: list[str] = []
                token = ""
                async with grpc.aio.insecure_channel(server.endpoint) as channel:
                    stub = run_service_pb2_grpc.RunServiceStub(channel)
                    while True:
                        request = run_service_pb2.ListRunsRequest(
                            project_id=identifier_pb2.ProjectIdentifier(name="flytesnacks", domain="development")
                        )
                        request.request.limit = 3
                        request.request.token = token
                        answer = await stub.ListRuns(request)
                        listed += [r.action.id.run.name for r in answer.runs]
                        token = answer.token
                        if not token:
                            break
                server.admin.release()
                return listed, [str(r.name) for r in held], [str(r.name) for r in finished]

        listed, held, finished = asyncio.run(scenario())
    assert listed == held[::-1] + finished[::-1]


@pytest.mark.parametrize(("phase", "task"), [(None, ""), (LIVE, ""), (ENDED, "sq"), (None, "Sq"), (6, "")])
@pytest.mark.parametrize("size", [1, 7, 50])
def test_console_pages_are_the_full_read_and_sort_they_replace(
    tmp_path: Path, phase: int | None, task: str, size: int
) -> None:
    """The console's listing (newest first, the name breaking ties, filtered by phase and by a
    piece of the task name) reads one page and a count; every page equals what reading, filtering
    and sorting all the runs gave."""
    phases = [(LIVE, ENDED, 6)[i % 3] if i % 5 else ENDED for i in range(200)]
    tasks = [("wf.square", "wf.Sq", "other", "")[i % 4] for i in range(200)]
    store = _store_with_runs(tmp_path / "devserver.db", phases, tasks)
    try:
        actions = ActionStore(store, Hub(), None)  # type: ignore[arg-type]  # no inputs are read
        everything = actions.run_rows([("project", "p"), ("domain", "d")])
        expected = sorted(
            (r for r in everything if (phase is None or r[3] == phase) and task in (r[6] or "")),
            key=lambda r: (-r[4], r[2]),
        )
        pages: list[Any] = []
        while True:
            page, total = actions.newest_runs("p", "d", phase=phase, task_contains=task, offset=len(pages), limit=size)
            assert total == len(expected)
            if not page:
                break
            pages += page
        assert [tuple(r) for r in pages] == [tuple(r) for r in expected]
        assert expected  # every case lists some runs
    finally:
        store.close()
