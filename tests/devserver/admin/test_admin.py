"""The admin API in process (``server.admin``) and over gRPC: faults, counters, dropped streams, holds."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from flyteidl2.project import project_service_pb2 as pj
from flyteidl2.workflow import run_service_pb2 as rs

from flyte_remote_core.devserver.admin._pb import admin_pb2

from ..helpers import PROJECT, P, action_id, create_run, wait_done, wait_phase

pytestmark = pytest.mark.timeout(90)


async def test_fail_next_and_counters(stubs, server):
    server.admin.reset_counters()
    server.admin.fail_next("GetProject", grpc.StatusCode.UNAVAILABLE, count=2)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))
    assert server.admin.call_count("GetProject") == 3
    assert server.admin.counters()["flyteidl2.project.ProjectService/GetProject"] == 3
    # Over the wire.
    await stubs.admin.FailNext(admin_pb2.FailNextRequest(method="flyteidl2.project.ProjectService/GetProject", code=5))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stubs.project.GetProject(pj.GetProjectRequest(id=PROJECT))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    counters = (await stubs.admin.GetCounters(admin_pb2.GetCountersRequest())).counters
    assert counters["flyteidl2.project.ProjectService/GetProject"] == 4
    assert not any("AdminService" in k for k in counters)
    await stubs.admin.ResetCounters(admin_pb2.ResetCountersRequest())
    assert server.admin.counters() == {}


async def test_drop_streams_ends_them_with_unavailable(stubs, server):
    server.admin.hold("drop-1")
    await create_run(stubs, "sample_tasks.noop", "drop-1")
    await wait_phase(stubs, "drop-1", P.ACTION_PHASE_RUNNING)
    call = stubs.run.WatchActionDetails(rs.WatchActionDetailsRequest(action_id=action_id("drop-1")))
    await asyncio.wait_for(call.read(), 10)
    resp = await stubs.admin.DropStreams(admin_pb2.DropStreamsRequest())
    assert resp.dropped >= 1
    with pytest.raises(grpc.aio.AioRpcError) as e:
        while True:
            msg = await asyncio.wait_for(call.read(), 10)
            assert msg is not grpc.aio.EOF, "stream ended without an error"
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    # Reconnecting works; releasing over the wire finishes the run.
    await stubs.admin.ReleaseRuns(admin_pb2.ReleaseRunsRequest(run_names=["drop-1"]))
    assert (await wait_done(stubs, "drop-1")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_hold_all_new_runs_over_the_wire(stubs, server):
    await stubs.admin.HoldRuns(admin_pb2.HoldRunsRequest(all_new_runs=True))
    await create_run(stubs, "sample_tasks.noop", "hold-all-1")
    await wait_phase(stubs, "hold-all-1", P.ACTION_PHASE_RUNNING)
    status = await stubs.admin.GetStatus(admin_pb2.GetStatusRequest())
    assert status.hold_all_new_runs and "hold-all-1" in status.held_runs
    released = await stubs.admin.ReleaseRuns(admin_pb2.ReleaseRunsRequest(all=True))
    assert released.released >= 1
    assert (await wait_done(stubs, "hold-all-1")).status.phase == P.ACTION_PHASE_SUCCEEDED


async def test_status_counts_the_jobs_in_flight_held_runs_included(stubs, server):
    """A held run's task still executes; benchmarks wait for jobs_in_flight == 0 before timing."""
    server.admin.hold("in-flight-1")
    await create_run(stubs, "sample_tasks.sleepy", "in-flight-1", seconds=1.5)
    await wait_phase(stubs, "in-flight-1", P.ACTION_PHASE_RUNNING)
    assert (await stubs.admin.GetStatus(admin_pb2.GetStatusRequest())).jobs_in_flight >= 1
    for _ in range(100):  # the task ends after 1.5 s; the held run stays RUNNING
        if server.admin.status()["jobs_in_flight"] == 0:
            break
        await asyncio.sleep(0.1)
    assert server.admin.status()["jobs_in_flight"] == 0
    status = await stubs.admin.GetStatus(admin_pb2.GetStatusRequest())
    assert status.jobs_in_flight == 0 and "in-flight-1" in status.held_runs
    server.admin.release("in-flight-1")
    assert (await wait_done(stubs, "in-flight-1")).status.phase == P.ACTION_PHASE_SUCCEEDED
