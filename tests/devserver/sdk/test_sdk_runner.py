"""The SDK runner's limits and lifecycle, on real Flyte code: the worker limit, the devserver's
stop (no process left behind), and a devserver with no Python for the SDK."""

from __future__ import annotations

import time

import grpc
import pytest
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.task import task_definition_pb2 as td
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.task import task_service_pb2_grpc as task_grpc
from flyteidl2.workflow import run_definition_pb2 as rd
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow import run_service_pb2_grpc as run_grpc

from tests.waiting import wait_until

from .conftest import SDK_PYTHON, last_json, requires_sdk, run_sdk
from .test_sdk_tasks import _actions, _details, _processes_of

pytestmark = requires_sdk
P = phase_pb2


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    from flyte_remote_core.devserver import DevServer

    srv = DevServer(data_dir=tmp_path_factory.mktemp("sdk-small"), sdk_python=SDK_PYTHON, workers=2)
    srv.start()
    yield srv
    srv.stop()


def _running_spans(det: rd.ActionDetails) -> list[tuple[float, float]]:
    spans = []
    for att in det.attempts:
        for pt in att.phase_transitions:
            if pt.phase == P.ACTION_PHASE_RUNNING:
                spans.append((pt.start_time.ToNanoseconds() / 1e9, pt.end_time.ToNanoseconds() / 1e9))
    return spans


def test_children_respect_the_worker_limit_and_a_waiting_parent_holds_no_slot(small_server):
    out = last_json(run_sdk("launch.py", small_server.endpoint, "fan_out", "wait", "n=4", "seconds=2").stdout)
    assert "SUCCEEDED" in out["phase"], out
    with grpc.insecure_channel(small_server.endpoint) as ch:
        children = [a for a in _actions(ch, out["name"]) if a.id.name != "a0"]
        assert len(children) == 4
        spans = [s for c in children for s in _running_spans(_details(ch, out["name"], c.id.name))]
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda p: (p[0], p[1]))
    live = peak = 0
    for _, delta in points:
        live += delta
        peak = max(peak, live)
    # Two workers: the parent waits on its children without holding a slot, so two children
    # run at a time (never more, and the parent's wait does not block them).
    assert peak == 2, spans


def test_stopping_the_devserver_leaves_no_task_process(tmp_path):
    from flyte_remote_core.devserver import DevServer

    srv = DevServer(data_dir=tmp_path / "data", sdk_python=SDK_PYTHON, workers=2).start()
    try:
        out = last_json(run_sdk("launch.py", srv.endpoint, "slow_parent", "nowait", "seconds=300").stdout)
        run = out["name"]
        deadline = time.monotonic() + 100  # under the test's 120 s timeout: a stuck child fails with this message
        with grpc.insecure_channel(srv.endpoint) as ch:
            while time.monotonic() < deadline:
                kids = [a for a in _actions(ch, run) if a.id.name != "a0"]
                if kids and kids[0].status.phase == P.ACTION_PHASE_RUNNING:
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f"the child of {run} never ran")
        assert len(_processes_of(run)) >= 2
    finally:
        srv.stop()
    assert _processes_of(run) == []


def _sdk_add_spec(sdk_server) -> tuple[td.TaskIdentifier, td.TaskSpec]:
    """The identifier and spec of the deployed Flyte SDK task ``sdkt.add``."""
    with grpc.insecure_channel(sdk_server.endpoint) as ch:
        tasks = task_grpc.TaskServiceStub(ch)
        found = tasks.ListTasks(ts.ListTasksRequest()).tasks
        tid = next(t.task_id for t in found if t.task_id.name == "sdkt.add")
        return tid, tasks.GetTaskDetails(ts.GetTaskDetailsRequest(task_id=tid)).details.spec


def _launch_spec(ch: grpc.Channel, tid: td.TaskIdentifier, spec: td.TaskSpec, name: str) -> None:
    task_grpc.TaskServiceStub(ch).DeployTask(ts.DeployTaskRequest(task_id=tid, spec=spec))
    rid = identifier_pb2.RunIdentifier(project=tid.project, domain=tid.domain, name=name)
    run_grpc.RunServiceStub(ch).CreateRun(rs.CreateRunRequest(run_id=rid, task_id=td.TaskIdentifier(
        project=tid.project, domain=tid.domain, name=tid.name, version=tid.version)))  # fmt: skip


def test_without_a_python_for_the_sdk_a_run_fails_at_once_saying_how_to_fix_it(tmp_path, sdk_server, driven):
    """The project's venv has no flyte: a deployed Flyte spec fails as a SYSTEM error naming --sdk-python."""
    from flyte_remote_core.devserver import DevServer

    tid, spec = _sdk_add_spec(sdk_server)
    with DevServer(data_dir=tmp_path / "data") as srv:  # sdk_python not given, and .venv cannot import flyte
        with grpc.insecure_channel(srv.endpoint) as ch:
            _launch_spec(ch, tid, spec, "no-sdk")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                det = _details(ch, "no-sdk")
                if det.status.phase == P.ACTION_PHASE_FAILED:
                    break
                time.sleep(0.1)
    assert det.status.phase == P.ACTION_PHASE_FAILED
    assert det.status.attempts == 1
    assert det.error_info.kind == rd.ErrorInfo.KIND_SYSTEM
    assert det.error_info.code == "SdkPythonMissing"
    assert "--sdk-python" in det.error_info.message and "cannot import flyte" in det.error_info.message


def test_a_held_run_whose_unrecoverable_end_is_aborted_leaves_no_mark_behind(tmp_path, sdk_server, driven):
    """An end that may not be retried is marked until it is applied; a held run aborted before its
    release never applies it, and the mark goes with the abort (the engine keeps no such entry)."""
    from flyte_remote_core.devserver import DevServer

    tid, spec = _sdk_add_spec(sdk_server)
    with DevServer(data_dir=tmp_path / "data") as srv:  # no --sdk-python: an unrecoverable SYSTEM end
        attempts = srv._backend.engine.attempts  # type: ignore[union-attr]
        srv.admin.hold("held-no-sdk")
        with grpc.insecure_channel(srv.endpoint) as ch:
            _launch_spec(ch, tid, spec, "held-no-sdk")
            wait_until(lambda: attempts._no_retry, "its unrecoverable end, marked and held", timeout=30)
            assert _details(ch, "held-no-sdk").status.phase == P.ACTION_PHASE_RUNNING
            rid = identifier_pb2.RunIdentifier(project=tid.project, domain=tid.domain, name="held-no-sdk")
            run_grpc.RunServiceStub(ch).AbortRun(rs.AbortRunRequest(run_id=rid, reason="not needed"))
            assert _details(ch, "held-no-sdk").status.phase == P.ACTION_PHASE_ABORTED
            assert srv._on_loop(lambda _: set(attempts._no_retry)) == set()
