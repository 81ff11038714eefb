"""A devserver restarted over its data folder resumes what the last process left live.

Runs in every phase, over real gRPC, across a clean stop (in process) and a SIGKILL of a
``flyte-devserver`` process: a succeeded run stays succeeded, a queued run runs, a running
attempt is retried within the task's retry budget, and fails with the restart as its
reason once the budget is spent.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.workflow import queue_service_pb2 as qs
from flyteidl2.workflow import queue_service_pb2_grpc
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs

from flyte_remote_core.devserver import DevServer

from ..helpers import (
    TERMINAL,
    P,
    Stubs,
    action_id,
    create_run,
    inputs,
    latest_task,
    outputs,
    wait_done,
    wait_phase,
)

pytestmark = pytest.mark.timeout(120)
TASKS = "tests.devserver.engine.restart_tasks"
ROOT = Path(__file__).resolve().parents[3]


async def _details(s: Stubs, name: str) -> rd.ActionDetails:
    resp = await s.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id(name)), timeout=10)
    details: rd.ActionDetails = resp.details
    return details


async def _stays_queued(s: Stubs, name: str, seconds: float = 1.0) -> None:
    """The run is still QUEUED after ``seconds``: the worker limit holds it back."""
    await asyncio.sleep(seconds)
    assert (await _details(s, name)).status.phase == P.ACTION_PHASE_QUEUED


async def _assert_succeeded_untouched(s: Stubs, name: str, expected: dict[str, object]) -> None:
    det = await _details(s, name)
    assert det.status.phase == P.ACTION_PHASE_SUCCEEDED
    assert det.status.attempts == 1
    assert await outputs(s, name) == expected


async def _assert_queued_ran(s: Stubs, name: str, expected: dict[str, object]) -> None:
    final = await wait_done(s, name, timeout=60)
    assert final.status.phase == P.ACTION_PHASE_SUCCEEDED, final.error_info
    assert final.status.attempts == 1  # it had not started: the same attempt ran, no retry was spent
    assert await outputs(s, name) == expected


async def _assert_retried(s: Stubs, name: str) -> None:
    final = await wait_done(s, name, timeout=60)
    assert final.status.phase == P.ACTION_PHASE_SUCCEEDED, final.error_info
    assert final.status.attempts == 2
    first = final.attempts[0]
    assert first.phase == P.ACTION_PHASE_FAILED
    assert first.error_info.code == "DevserverRestarted"
    assert first.error_info.kind == rd.ErrorInfo.KIND_SYSTEM
    assert "restarted" in first.error_info.message and "retried" in first.error_info.message
    assert await outputs(s, name) == {"o0": "resumed"}


async def test_clean_restart_requeues_queued_and_retries_running(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "marker"
    first = DevServer(tasks=[TASKS], data_dir=data, workers=1)
    first.start()
    try:
        async with grpc.aio.insecure_channel(first.endpoint) as ch:
            s = Stubs(ch)
            await create_run(s, "restart_tasks.quick", "done-before", x=1)
            assert (await wait_done(s, "done-before")).status.phase == P.ACTION_PHASE_SUCCEEDED
            await create_run(s, "restart_tasks.first_attempt_hangs", "was-running", marker=str(marker))
            await wait_phase(s, "was-running", P.ACTION_PHASE_RUNNING)
            await create_run(s, "restart_tasks.quick", "was-queued", x=2)
            await _stays_queued(s, "was-queued")
    finally:
        first.stop()
    assert marker.exists()  # attempt 1 of was-running did begin
    second = DevServer(tasks=[TASKS], data_dir=data, workers=1)
    second.start()
    try:
        async with grpc.aio.insecure_channel(second.endpoint) as ch:
            s = Stubs(ch)
            await _assert_succeeded_untouched(s, "done-before", {"o0": 10})
            await _assert_retried(s, "was-running")
            await _assert_queued_ran(s, "was-queued", {"o0": 20})
    finally:
        second.stop()


def _start_cli(data_dir: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "flyte_remote_core.devserver", "--port", "0", "--data-dir", str(data_dir)]
    cmd += ["--tasks", TASKS, "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    endpoint, lines, deadline = "", [], time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if m := re.match(r"endpoint: (\S+)", line):
            endpoint = m.group(1)
        if "ready on" in line:
            return proc, endpoint
    proc.kill()
    raise AssertionError("the devserver did not become ready:\n" + "".join(lines))


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


async def test_sigkill_restart_resumes_within_the_retry_budget(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "marker"
    proc, endpoint = _start_cli(data, workers=2)
    try:
        async with grpc.aio.insecure_channel(endpoint) as ch:
            s = Stubs(ch)
            await create_run(s, "restart_tasks.quick", "done-before", x=3)
            assert (await wait_done(s, "done-before")).status.phase == P.ACTION_PHASE_SUCCEEDED
            # Both workers busy: one task with a retry left, one with none; a third run waits.
            await create_run(s, "restart_tasks.first_attempt_hangs", "was-running", marker=str(marker))
            await wait_phase(s, "was-running", P.ACTION_PHASE_RUNNING)
            await create_run(s, "restart_tasks.hangs_without_retries", "no-retries")
            await wait_phase(s, "no-retries", P.ACTION_PHASE_RUNNING)
            await create_run(s, "restart_tasks.quick", "was-queued", x=4)
            await _stays_queued(s, "was-queued")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc, endpoint = _start_cli(data, workers=2)
    try:
        async with grpc.aio.insecure_channel(endpoint) as ch:
            s = Stubs(ch)
            await _assert_succeeded_untouched(s, "done-before", {"o0": 30})
            await _assert_retried(s, "was-running")
            await _assert_queued_ran(s, "was-queued", {"o0": 40})
            spent = await wait_done(s, "no-retries", timeout=60)
            assert spent.status.phase == P.ACTION_PHASE_FAILED
            assert spent.status.attempts == 1  # retries=0: no new attempt
            assert spent.error_info.code == "DevserverRestarted"
            assert spent.error_info.kind == rd.ErrorInfo.KIND_SYSTEM
            assert "restarted" in spent.error_info.message and "no retries" in spent.error_info.message
    finally:
        _stop(proc)


async def _enqueue_child(s: Stubs, parent_run: str, child: str, inputs_path: Path, x: int) -> None:
    """What a running parent's runtime does: QueueService.EnqueueAction for a nested action."""
    inputs_path.write_bytes(inputs(x=x).SerializeToString())
    tid = await latest_task(s, "restart_tasks.quick")
    spec = (await s.task.GetTaskDetails(ts.GetTaskDetailsRequest(task_id=tid), timeout=10)).details.spec
    queue = queue_service_pb2_grpc.QueueServiceStub(s.channel)  # type: ignore[no-untyped-call]
    await queue.EnqueueAction(
        qs.EnqueueActionRequest(
            action_id=action_id(parent_run, child),
            parent_action_name="a0",
            input_uri=inputs_path.as_uri(),
            task=rd.TaskAction(id=tid, spec=spec),
        ),
        timeout=10,
    )


async def _wait_action(s: Stubs, run: str, action: str, timeout: float = 60) -> rd.ActionDetails:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await s.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id(run, action)), timeout=10)
        if resp.details.status.phase in TERMINAL:
            details: rd.ActionDetails = resp.details
            return details
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run}/{action} did not end within {timeout} s")


async def test_restart_resumes_nested_actions_with_their_parents(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "marker"
    first = DevServer(tasks=[TASKS], data_dir=data, workers=2)
    first.start()
    try:
        async with grpc.aio.insecure_channel(first.endpoint) as ch:
            s = Stubs(ch)
            # Both workers busy with parents; each parent has a queued child.
            await create_run(s, "restart_tasks.first_attempt_hangs", "parent-retried", marker=str(marker), linger=3.0)
            await wait_phase(s, "parent-retried", P.ACTION_PHASE_RUNNING)
            await create_run(s, "restart_tasks.hangs_without_retries", "parent-spent")
            await wait_phase(s, "parent-spent", P.ACTION_PHASE_RUNNING)
            await _enqueue_child(s, "parent-retried", "c1", tmp_path / "in1.pb", x=5)
            await _enqueue_child(s, "parent-spent", "c1", tmp_path / "in2.pb", x=6)
            await asyncio.sleep(1.0)
            for run in ("parent-retried", "parent-spent"):
                assert (await _details_of(s, run, "c1")).status.phase == P.ACTION_PHASE_QUEUED
    finally:
        first.stop()
    second = DevServer(tasks=[TASKS], data_dir=data, workers=2)
    second.start()
    try:
        async with grpc.aio.insecure_channel(second.endpoint) as ch:
            s = Stubs(ch)
            # The retried parent's queued child runs again while the parent's new attempt is alive.
            child = await _wait_action(s, "parent-retried", "c1")
            assert child.status.phase == P.ACTION_PHASE_SUCCEEDED, child.error_info
            assert child.status.attempts == 1
            await _assert_retried(s, "parent-retried")
            # A parent with no retries left fails with the restart; its live child is aborted with it.
            spent = await wait_done(s, "parent-spent", timeout=60)
            assert spent.status.phase == P.ACTION_PHASE_FAILED
            assert spent.error_info.code == "DevserverRestarted"
            orphan = await _wait_action(s, "parent-spent", "c1")
            assert orphan.status.phase == P.ACTION_PHASE_ABORTED
            assert "restarted" in orphan.abort_info.reason
    finally:
        second.stop()


async def _details_of(s: Stubs, run: str, action: str) -> rd.ActionDetails:
    resp = await s.run.GetActionDetails(rs.GetActionDetailsRequest(action_id=action_id(run, action)), timeout=10)
    details: rd.ActionDetails = resp.details
    return details
