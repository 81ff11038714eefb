"""The life of a run, through RunService over real gRPC: create, names, duplicates, watch,
retries, timeout, abort, holds, lists, logs."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from flyteidl2.common import identifier_pb2, list_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs

from flyte_remote_core.devserver.engine.model import RUN_NAME_ALPHABET

from ..helpers import (
    DOMAIN,
    PROJECT,
    TERMINAL,
    P,
    action_id,
    create_run,
    inputs,
    latest_task,
    outputs,
    run_id,
    wait_done,
    wait_phase,
    watch_phases,
)

pytestmark = pytest.mark.timeout(60)


async def test_run_succeeds_with_all_phases_and_outputs(stubs):
    run = await create_run(stubs, "sample_tasks.add", "add-ok", x=2, y=40)
    assert run.action.id.name == "a0"
    assert run.action.status.phase == P.ACTION_PHASE_QUEUED
    assert run.action.status.attempts == 1
    seen = await watch_phases(stubs, "add-ok")
    phases = [d.status.phase for d in seen]
    assert phases[-1] == P.ACTION_PHASE_SUCCEEDED
    assert phases == sorted(phases)  # never backwards
    final = seen[-1]
    assert final.status.HasField("end_time")
    assert [t.phase for t in final.attempts[0].phase_transitions] == [
        P.ACTION_PHASE_QUEUED,
        P.ACTION_PHASE_INITIALIZING,
        P.ACTION_PHASE_RUNNING,
        P.ACTION_PHASE_SUCCEEDED,
    ]
    assert await outputs(stubs, "add-ok") == {"o0": 42}
    details = (await stubs.run.GetRunDetails(rs.GetRunDetailsRequest(run_id=run_id("add-ok")))).details
    assert details.action.status.phase == P.ACTION_PHASE_SUCCEEDED
    uris = await stubs.run.GetActionDataURIs(rs.GetActionDataURIsRequest(action_id=action_id("add-ok")))
    assert uris.inputs_uri.startswith("file://") and uris.outputs_uri.startswith("file://")
    old = await stubs.run.GetActionData(rs.GetActionDataRequest(action_id=action_id("add-ok")))
    assert {nl.name for nl in old.inputs.literals} == {"x", "y"}


async def test_generated_name_and_offloaded_inputs(stubs):
    from flyteidl2.dataproxy import dataproxy_service_pb2 as dp

    up = await stubs.dp.UploadInputs(
        dp.UploadInputsRequest(
            project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN), inputs=inputs(x=1, y=1)
        )
    )
    assert up.offloaded_input_data.uri.startswith("file://") and len(up.offloaded_input_data.inputs_hash) == 64
    tid = await latest_task(stubs, "sample_tasks.add")
    req = rs.CreateRunRequest(task_id=tid, offloaded_input_data=up.offloaded_input_data)
    req.project_id.name, req.project_id.domain = PROJECT, DOMAIN
    run = (await stubs.run.CreateRun(req)).run
    name = run.action.id.run.name
    assert len(name) == 20 and name[0] == "r" and set(name[1:]) <= set(RUN_NAME_ALPHABET)
    assert (await wait_done(stubs, name)).status.phase == P.ACTION_PHASE_SUCCEEDED
    assert await outputs(stubs, name) == {"o0": 2}


@pytest.mark.parametrize("bad", ["Upper", "1abc", "a" * 31, "has_underscore", "ends-"])
async def test_invalid_run_names(stubs, bad):
    tid = await latest_task(stubs, "sample_tasks.noop")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.run.CreateRun(rs.CreateRunRequest(run_id=run_id(bad), task_id=tid))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_unknown_project_task_and_run(stubs):
    tid = await latest_task(stubs, "sample_tasks.noop")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.run.CreateRun(rs.CreateRunRequest(run_id=run_id("x1", project="nope"), task_id=tid))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    missing = identifier_pb2.RunIdentifier(project=PROJECT, domain=DOMAIN, name="missing")
    tid2 = type(tid)()
    tid2.CopyFrom(tid)
    tid2.version = "nope"
    for call in (
        stubs.run.CreateRun(rs.CreateRunRequest(run_id=run_id("x2"), task_id=tid2)),
        stubs.run.GetRunDetails(rs.GetRunDetailsRequest(run_id=missing)),
        stubs.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id("missing"))),
        stubs.run.AbortRun(rs.AbortRunRequest(run_id=missing)),
        stubs.run.GetActionDataURIs(rs.GetActionDataURIsRequest(action_id=action_id("missing"))),
        stubs.run.ListActions(rs.ListActionsRequest(run_id=missing)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as e:
        async for _ in stubs.run.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id("missing"))):
            pass
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_duplicate_name_returns_existing_by_default(stubs):
    first = await create_run(stubs, "sample_tasks.add", "dup-ret", x=1, y=2)
    again = await create_run(stubs, "sample_tasks.add", "dup-ret", x=5, y=5)
    assert again.action.id == first.action.id
    await wait_done(stubs, "dup-ret")
    assert await outputs(stubs, "dup-ret") == {"o0": 3}


async def test_duplicate_name_already_exists_mode(tmp_path):
    from flyte_remote_core.devserver import DevServer

    from ..conftest import SAMPLE_TASKS
    from ..helpers import Stubs

    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path, duplicate_run_names="already-exists") as srv:
        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            s = Stubs(ch)
            await create_run(s, "sample_tasks.noop", "dup-err")
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await create_run(s, "sample_tasks.noop", "dup-err")
            assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_user_error(stubs):
    await create_run(stubs, "sample_tasks.fail_user", "fail-user", message="boom")
    final = await wait_done(stubs, "fail-user")
    assert final.status.phase == P.ACTION_PHASE_FAILED
    assert final.error_info.kind == rd.ErrorInfo.KIND_USER
    assert "boom" in final.error_info.message


async def test_crash_is_a_failure_and_server_survives(stubs):
    await create_run(stubs, "sample_tasks.crash", "crash-1")
    final = await wait_done(stubs, "crash-1")
    assert final.status.phase == P.ACTION_PHASE_FAILED
    await create_run(stubs, "sample_tasks.add", "after-crash", x=1, y=1)
    assert (await wait_done(stubs, "after-crash")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_retries_bump_attempts_then_succeed(stubs, tmp_path):
    marker = str(tmp_path / "marker")
    await create_run(stubs, "sample_tasks.flaky", "flaky-1", marker=marker)
    seen = await watch_phases(stubs, "flaky-1")
    final = seen[-1]
    assert final.status.phase == P.ACTION_PHASE_SUCCEEDED
    assert final.status.attempts == 2
    assert final.attempts[0].phase == P.ACTION_PHASE_FAILED and final.attempts[0].HasField("error_info")
    assert final.attempts[1].phase == P.ACTION_PHASE_SUCCEEDED


async def test_exhausted_retries_give_max_retries_exceeded(stubs, server):
    # flaky needs its marker file to exist to succeed: a folder that cannot be created fails every attempt.
    await create_run(stubs, "sample_tasks.flaky", "flaky-2", marker="/nonexistent-dir/marker")
    final = await wait_done(stubs, "flaky-2")
    assert final.status.phase == P.ACTION_PHASE_FAILED
    assert final.status.attempts == 3
    assert final.error_info.code == "MaxRetriesExceeded"
    assert final.error_info.kind == rd.ErrorInfo.KIND_USER


async def test_timeout(stubs):
    await create_run(stubs, "sample_tasks.slow_with_timeout", "slow-1", seconds=30.0)
    final = await wait_done(stubs, "slow-1")
    assert final.status.phase == P.ACTION_PHASE_TIMED_OUT


async def test_abort_running_run(stubs):
    await create_run(stubs, "sample_tasks.hang", "hang-1")
    await wait_phase(stubs, "hang-1", P.ACTION_PHASE_RUNNING)
    await stubs.run.AbortRun(rs.AbortRunRequest(run_id=run_id("hang-1")))
    final = await wait_done(stubs, "hang-1")
    assert final.status.phase == P.ACTION_PHASE_ABORTED
    assert final.abort_info.reason == "User requested abort"
    # Aborting a finished run is harmless; a custom reason on AbortAction.
    await stubs.run.AbortRun(rs.AbortRunRequest(run_id=run_id("hang-1")))
    await create_run(stubs, "sample_tasks.hang", "hang-2")
    await stubs.run.AbortAction(rs.AbortActionRequest(action_id=action_id("hang-2"), reason="enough"))
    final = await wait_done(stubs, "hang-2")
    assert final.status.phase == P.ACTION_PHASE_ABORTED and final.abort_info.reason == "enough"
    # The pool still runs work after killing a worker.
    await create_run(stubs, "sample_tasks.add", "after-abort", x=1, y=1)
    assert (await wait_done(stubs, "after-abort")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_hold_keeps_running_until_released(stubs, server):
    server.admin.hold("held-1")
    await create_run(stubs, "sample_tasks.add", "held-1", x=1, y=2)
    await wait_phase(stubs, "held-1", P.ACTION_PHASE_RUNNING)
    await asyncio.sleep(1.0)
    det = (await stubs.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id("held-1")))).details
    assert det.status.phase == P.ACTION_PHASE_RUNNING
    assert server.admin.release("held-1") == 1
    assert (await wait_done(stubs, "held-1")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_watch_run_details_and_watch_actions(stubs):
    await create_run(stubs, "sample_tasks.sleepy", "watch-rd", seconds=0.3)
    last = None
    async for resp in stubs.run.WatchRunDetails(rs.WatchRunDetailsRequest(run_id=run_id("watch-rd")), timeout=30):
        last = resp.details
    assert last.action.status.phase == P.ACTION_PHASE_SUCCEEDED
    n = 0
    async for resp in stubs.run.WatchActions(rs.WatchActionsRequest(run_id=run_id("watch-rd")), timeout=30):
        n += 1
        assert resp.enriched_actions[0].action.id.name == "a0"
    assert n >= 1


async def test_watch_runs_sends_snapshot_then_changes(stubs):
    req = rs.WatchRunsRequest(project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN))
    call = stubs.run.WatchRuns(req)
    first = await asyncio.wait_for(call.read(), 10)
    assert len(first.runs) <= 100
    await create_run(stubs, "sample_tasks.add", "wr-new", x=1, y=1)
    phases = set()
    while P.ACTION_PHASE_SUCCEEDED not in phases:
        resp = await asyncio.wait_for(call.read(), 20)
        phases |= {r.action.status.phase for r in resp.runs if r.action.id.run.name == "wr-new"}
    call.cancel()


async def test_watch_runs_shows_a_new_run_only_from_its_first_phase_change(tmp_path):
    """REFERENCE 2b: a new run appears on WatchRuns after its first phase change, while
    runs that exist when the stream opens (even QUEUED ones) are in the first batch."""
    from flyte_remote_core.devserver import DevServer

    from ..conftest import SAMPLE_TASKS
    from ..helpers import Stubs

    def entries(resp, name):
        return [r.action.status.phase for r in resp.runs if r.action.id.run.name == name]

    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path, workers=1) as srv:
        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            s = Stubs(ch)
            await create_run(s, "sample_tasks.hang", "blocker")  # the only worker is busy from now on
            await wait_phase(s, "blocker", P.ACTION_PHASE_RUNNING)
            await create_run(s, "sample_tasks.noop", "old-queued")
            req = rs.WatchRunsRequest(project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN))
            call = s.run.WatchRuns(req)
            first = await asyncio.wait_for(call.read(), 10)
            assert entries(first, "old-queued") == [P.ACTION_PHASE_QUEUED]
            # New runs that stay QUEUED are not announced ...
            await create_run(s, "sample_tasks.noop", "new-run")
            await create_run(s, "sample_tasks.noop", "new-aborted")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(read := asyncio.ensure_future(call.read())), 0.7)
            # ... a terminal phase reached from QUEUED is a phase change ...
            await s.run.AbortRun(rs.AbortRunRequest(run_id=run_id("new-aborted")))
            resp = await asyncio.wait_for(read, 10)
            seen = {n: entries(resp, n) for n in ("new-run", "new-aborted")}
            assert seen == {"new-run": [], "new-aborted": [P.ACTION_PHASE_ABORTED]}, seen
            # ... and so is leaving QUEUED once the worker is free.
            await s.run.AbortRun(rs.AbortRunRequest(run_id=run_id("blocker")))
            phases = []
            while P.ACTION_PHASE_SUCCEEDED not in phases:
                phases += entries(await asyncio.wait_for(call.read(), 20), "new-run")
            assert phases and P.ACTION_PHASE_QUEUED not in phases, phases
            call.cancel()


async def test_watch_runs_sends_a_burst_of_ends_in_pages_of_100(tmp_path):
    """250 runs ending in one pass reach a watcher as pages of at most 100 runs (each run once),
    so the first of them are told while the rest are still being read."""
    from flyte_remote_core.devserver import DevServer

    from ..conftest import SAMPLE_TASKS
    from ..helpers import Stubs

    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as srv:
        srv.admin.hold(all_new_runs=True)
        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            s = Stubs(ch)
            names = {f"burst-{i}" for i in range(250)}
            for name in sorted(names):
                await create_run(s, "sample_tasks.noop", name)
            await wait_phase(s, "burst-249", P.ACTION_PHASE_RUNNING)
            req = rs.WatchRunsRequest(project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN))
            call = s.run.WatchRuns(req)
            await asyncio.wait_for(call.read(), 10)  # the first page: the stream is up
            assert srv.admin.release_all() == 250
            pages: list[int] = []
            told: list[str] = []
            while not names <= set(told):
                resp = await asyncio.wait_for(call.read(), 20)
                ended = [r.action.id.run.name for r in resp.runs if r.action.status.phase == P.ACTION_PHASE_SUCCEEDED]
                pages.append(len(resp.runs))
                told += ended
            call.cancel()
    assert max(pages) <= 100 and len(pages) >= 3, pages
    assert sorted(told) == sorted(names)  # each run once


async def test_a_released_burst_is_sent_while_it_is_still_being_applied(tmp_path):
    """1,000 held runs released at once: the first ends reach a watcher before the last end is
    even stamped (the release yields to the streams between chunks; it used to send nothing until
    every run had ended, so a burst's first runs were told last-run-late)."""
    import time

    from flyte_remote_core.devserver import DevServer

    from ..conftest import SAMPLE_TASKS
    from ..helpers import Stubs

    n = 1000
    with DevServer(tasks=[SAMPLE_TASKS], data_dir=tmp_path) as srv:
        srv.admin.hold(all_new_runs=True)
        async with grpc.aio.insecure_channel(srv.endpoint) as ch:
            s = Stubs(ch)
            names = [f"rel-{i:04d}" for i in range(n)]
            for start in range(0, n, 50):
                await asyncio.gather(*(create_run(s, "sample_tasks.noop", m) for m in names[start : start + 50]))
            await wait_phase(s, names[-1], P.ACTION_PHASE_RUNNING)
            req = rs.WatchRunsRequest(project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN))
            call = s.run.WatchRuns(req)
            await asyncio.wait_for(call.read(), 10)  # the first page: the stream is up
            assert srv.admin.release_all() == n
            first_told: float | None = None
            ends: dict[str, float] = {}
            while len(ends) < n:
                resp = await asyncio.wait_for(call.read(), 30)
                received = time.time()
                for r in resp.runs:
                    if r.action.status.phase == P.ACTION_PHASE_SUCCEEDED:
                        ends[r.action.id.run.name] = r.action.status.end_time.ToNanoseconds() / 1e9
                        first_told = first_told or received
            call.cancel()
    assert sorted(ends) == names
    assert first_told is not None and first_told < max(ends.values()), (
        f"first end told {first_told - min(ends.values()):.3f} s after the first end was stamped, "
        f"{first_told - max(ends.values()):.3f} s after the last"
    )


async def test_list_runs_pagination_and_actions(stubs):
    for i in range(3):
        await create_run(stubs, "sample_tasks.noop", f"page-{i}")
    for i in range(3):
        await wait_done(stubs, f"page-{i}")
    scope = identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN)
    names, token = [], ""
    while True:
        resp = await stubs.run.ListRuns(
            rs.ListRunsRequest(project_id=scope, request=list_pb2.ListRequest(limit=2, token=token))
        )
        assert len(resp.runs) <= 2
        names += [r.action.id.run.name for r in resp.runs]
        token = resp.token
        if not token:
            break
    assert {"page-0", "page-1", "page-2"} <= set(names)
    assert len(names) == len(set(names))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.run.ListRuns(rs.ListRunsRequest(project_id=scope, request=list_pb2.ListRequest(token="x")))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    filt = list_pb2.Filter(function=list_pb2.Filter.EQUAL, field="name", values=["page-1"])
    resp = await stubs.run.ListRuns(rs.ListRunsRequest(project_id=scope, request=list_pb2.ListRequest(filters=[filt])))
    assert [r.action.id.run.name for r in resp.runs] == ["page-1"]
    acts = await stubs.run.ListActions(rs.ListActionsRequest(run_id=run_id("page-0")))
    assert [a.id.name for a in acts.actions] == ["a0"]


async def test_active_runs_listed_first(stubs, server):
    server.admin.hold("active-first")
    await create_run(stubs, "sample_tasks.noop", "active-first")
    scope = identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN)
    resp = await stubs.run.ListRuns(rs.ListRunsRequest(project_id=scope))
    active = [r for r in resp.runs if r.action.status.phase not in TERMINAL]
    assert resp.runs[: len(active)] == active
    server.admin.release("active-first")
    await wait_done(stubs, "active-first")


async def test_logs_stream_live(stubs):
    from flyteidl2.dataproxy import dataproxy_service_pb2 as dp

    await create_run(stubs, "sample_tasks.chatty", "chatty-1", lines=3, pause=0.2)
    await wait_phase(stubs, "chatty-1", P.ACTION_PHASE_RUNNING)
    lines = []
    async for resp in stubs.dp.TailLogs(dp.TailLogsRequest(action_id=action_id("chatty-1")), timeout=30):
        for logs in resp.logs:
            lines += [ln.message for ln in logs.lines]
    text = "\n".join(lines)
    for i in range(3):
        assert f"stdout line {i}" in text and f"stderr line {i}" in text
