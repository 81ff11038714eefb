"""Real Flyte 2 code on the devserver: tasks deployed and run with the official SDK (flyte 2.12.1).

One SDK session (project/drive.py) deploys ``project/wf.py`` and runs its tasks; the tests
check what it saw and what the devserver serves about those runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.dataproxy import dataproxy_service_pb2_grpc as dp_grpc
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.task import task_service_pb2_grpc as task_grpc
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow import run_service_pb2_grpc as run_grpc

from .conftest import requires_sdk

pytestmark = requires_sdk
P = phase_pb2


@pytest.fixture(scope="module")
def channel(sdk_server):
    with grpc.insecure_channel(sdk_server.endpoint) as ch:
        yield ch


def _action_id(run: str, action: str = "a0") -> identifier_pb2.ActionIdentifier:
    rid = identifier_pb2.RunIdentifier(project="flytesnacks", domain="development", name=run)
    return identifier_pb2.ActionIdentifier(run=rid, name=action)


def _details(channel, run: str, action: str = "a0") -> rd.ActionDetails:
    stub = run_grpc.RunServiceStub(channel)
    return stub.GetActionDetails(rs.GetActionDetailsRequest(action_id=_action_id(run, action))).details


def _actions(channel, run: str) -> list[rd.Action]:
    stub = run_grpc.RunServiceStub(channel)
    return list(stub.ListActions(rs.ListActionsRequest(run_id=_action_id(run).run)).actions)


def _processes_of(run: str) -> list[int]:
    """Processes whose command line names the run (a task runtime gets ``--run-name RUN``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if run.encode() in cmd:
            found.append(int(proc.name))
    return found


def test_declared_images_are_looked_up_not_built(sdk_server, driven):
    counters = sdk_server.admin.counters()
    assert any(k.endswith("GetImage") and v >= 1 for k, v in counters.items()), counters


def test_nested_actions_go_through_the_queue_and_state_services(sdk_server, driven):
    counters = sdk_server.admin.counters()
    assert any(k.endswith("EnqueueAction") and v >= 1 for k, v in counters.items()), counters
    assert any(k.endswith("StateService/Watch") and v >= 1 for k, v in counters.items()), counters


def test_deploy_puts_every_task_of_the_environment(channel, driven):
    stub = task_grpc.TaskServiceStub(channel)
    resp = stub.ListTasks(ts.ListTasksRequest(org="", project_id=None))
    names = {t.task_id.name for t in resp.tasks}
    assert {"sdkt.add", "sdkt.shout", "sdkt.move", "sdkt.parent", "sdkt.fail", "sdkimg.in_declared_image"} <= names


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("add", 5),  # int in, int out
        ("shout", "A-B"),  # list[str] and str in, str out (a default overridden)
        ("move", "Point(x=11, y=2)"),  # dataclass in and out
        ("file", "hello file"),  # File out of one action, File into the next
        ("by_ref", 42),  # a deployed task launched by reference
        ("image", 21),  # a task of an environment with a declared image: accepted, not built
    ],
)
def test_leaf_tasks_run_and_return_their_outputs(driven, run, expected):
    assert "SUCCEEDED" in driven[run]["phase"], driven[run]
    assert driven[run]["output"] == expected


def test_a_failing_task_fails_as_a_user_error_with_its_message(channel, driven):
    assert "FAILED" in driven["fail"]["phase"]
    det = _details(channel, driven["fail"]["name"])
    assert det.status.phase == P.ACTION_PHASE_FAILED
    assert det.error_info.kind == rd.ErrorInfo.KIND_USER
    assert "kaboom from the task" in det.error_info.message
    assert det.error_info.code


def test_a_nested_action_runs_and_its_output_reaches_the_parent(channel, driven):
    assert driven["parent"]["output"] == 12  # (5 + 1) * 2: the child's output came back
    actions = _actions(channel, driven["parent"]["name"])
    children = [a for a in actions if a.id.name != "a0"]
    assert len(children) == 1
    child = children[0]
    assert child.metadata.parent == "a0"
    assert child.metadata.task.id.name == "sdkt.add"
    assert child.status.phase == P.ACTION_PHASE_SUCCEEDED
    logs = _log_lines(channel, driven["parent"]["name"], child.id.name)
    assert "adding 5 and 1\n" in logs or "adding 5 and 1" in logs


def test_retries_from_the_task_spec_are_enforced(channel, driven):
    assert driven["flaky"]["output"] == 2  # failed on attempts 0 and 1, then succeeded
    det = _details(channel, driven["flaky"]["name"])
    assert det.status.attempts == 3
    assert [a.phase for a in det.attempts] == [P.ACTION_PHASE_FAILED, P.ACTION_PHASE_FAILED, P.ACTION_PHASE_SUCCEEDED]
    assert any("attempt 1" in line for line in _log_lines(channel, driven["flaky"]["name"], "a0", attempt=2))


def test_a_timeout_from_the_task_spec_is_enforced(channel, driven):
    assert "TIMED_OUT" in driven["sleepy"]["phase"]
    det = _details(channel, driven["sleepy"]["name"])
    assert det.status.phase == P.ACTION_PHASE_TIMED_OUT
    assert "timeout of 3s" in det.error_info.message
    assert _processes_of(driven["sleepy"]["name"]) == []


def _log_lines(channel, run: str, action: str = "a0", attempt: int = 0) -> list[str]:
    stub = dp_grpc.DataProxyServiceStub(channel)
    req = dp.TailLogsRequest(action_id=_action_id(run, action), attempt=attempt)
    return [line.message for resp in stub.TailLogs(req, timeout=30) for logs in resp.logs for line in logs.lines]


def _log_stamps(channel, run: str, action: str = "a0", attempt: int = 0) -> list[int]:
    stub = dp_grpc.DataProxyServiceStub(channel)
    req = dp.TailLogsRequest(action_id=_action_id(run, action), attempt=attempt)
    return [
        line.timestamp.ToNanoseconds()
        for resp in stub.TailLogs(req, timeout=30)
        for lg in resp.logs
        for line in lg.lines
    ]


def test_logs_are_served_line_exact_repeated_lines_kept(channel, driven):
    lines = _log_lines(channel, driven["echo"]["name"])
    # Each line as the task printed it, newline included (as a real backend sends it), repeats kept,
    # each with its own stamp (the SDK drops a repeat of the same text at the same stamp).
    start = lines.index("same line\n")
    assert lines[start : start + 4] == ["same line\n", "same line\n", "same line\n", "last line\n"]
    stamps = _log_stamps(channel, driven["echo"]["name"])
    assert stamps == sorted(set(stamps)), "every line has its own, increasing stamp"


def test_aborting_a_run_aborts_its_children_and_ends_their_processes(channel, driven):
    run = driven["abort_run"]
    deadline = time.monotonic() + 100  # under the test's 120 s timeout: a stuck child fails with this message
    while time.monotonic() < deadline:
        children = [a for a in _actions(channel, run) if a.id.name != "a0"]
        if children and children[0].status.phase == P.ACTION_PHASE_RUNNING:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the child of {run} never ran: {_actions(channel, run)}")
    assert len(_processes_of(run)) >= 2  # the parent's runtime and the child's
    stub = run_grpc.RunServiceStub(channel)
    stub.AbortRun(rs.AbortRunRequest(run_id=_action_id(run).run, reason="test abort"))
    deadline = time.monotonic() + 10
    while _processes_of(run) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_of(run) == []
    phases = {a.id.name: a.status.phase for a in _actions(channel, run)}
    assert set(phases.values()) == {P.ACTION_PHASE_ABORTED}, phases
