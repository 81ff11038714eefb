"""The worker-process executor, with real worker processes (no mocks)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flyteidl2.task import common_pb2

from flyte_remote_core.devserver.execution.interface import Job, JobUpdate
from flyte_remote_core.devserver.execution.pool import Executor
from flyte_remote_core.devserver.execution.registry import LocalTask, task_from_function
from tests.devserver import sample_tasks

pytestmark = pytest.mark.timeout(90)


HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]  # the repository root: workers import tests.devserver.sample_tasks from it
MODULE = sample_tasks.__name__

_TASKS: dict[str, LocalTask] = {}


def _task(function: str) -> LocalTask:
    if function not in _TASKS:
        _TASKS[function] = task_from_function(getattr(sample_tasks, function))
    return _TASKS[function]


class Recorder:
    """Collects a job's updates and checks they arrive in order with one terminal."""

    ORDER: ClassVar[dict[str, int]] = {"INITIALIZING": 1, "RUNNING": 2}

    def __init__(self) -> None:
        self.updates: list[JobUpdate] = []
        self.done = asyncio.Event()
        self.running = asyncio.Event()

    def __call__(self, update: JobUpdate) -> None:
        assert not self.done.is_set(), f"update after the terminal one: {update}"
        if self.updates and not update.terminal:
            assert self.ORDER[update.phase] > self.ORDER[self.updates[-1].phase], (self.updates, update)
        self.updates.append(update)
        if update.phase == "RUNNING":
            self.running.set()
        if update.terminal:
            self.done.set()

    @property
    def phases(self) -> list[str]:
        return [u.phase for u in self.updates]

    @property
    def final(self) -> JobUpdate:
        assert self.updates and self.updates[-1].terminal
        return self.updates[-1]

    async def wait(self, timeout: float = 30) -> JobUpdate:
        await asyncio.wait_for(self.done.wait(), timeout)
        return self.final


def write_inputs(path: Path, function: str, **values: Any) -> Path:
    from flyte_remote_core.codec import input_types_for, to_literal

    task = _task(function)
    hints = input_types_for(task.func)
    msg = common_pb2.Inputs()
    for var in task.spec.task_template.interface.inputs.variables:
        if var.key in values:
            lit = to_literal(values[var.key], var.value.type, name=var.key, python_type=hints[var.key])
            msg.literals.add(name=var.key, value=lit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msg.SerializeToString())
    return path


def read_outputs(job: Job, function: str) -> list[Any]:
    from flyte_remote_core.codec import from_literal, output_types_for

    task = _task(function)
    hints = output_types_for(task.func)
    msg = common_pb2.Outputs()
    msg.ParseFromString(job.outputs_path.read_bytes())
    variables = {v.key: v.value.type for v in task.spec.task_template.interface.outputs.variables}
    assert [lit.name for lit in msg.literals] == list(variables)
    return [from_literal(lit.value, variables[lit.name], python_type=hints[lit.name]) for lit in msg.literals]


_counter = 0


def make_job(tmp: Path, function: str, *, timeout_s: float | None = None, attempt: int = 1, **values: Any) -> Job:
    global _counter
    _counter += 1
    d = tmp / f"job{_counter}"
    return Job(
        job_id=f"job{_counter}",
        module=MODULE,
        function=function,
        inputs_path=write_inputs(d / "inputs.pb", function, **values),
        outputs_path=d / "out" / "outputs.pb",
        log_path=d / "log.txt",
        timeout_s=timeout_s,
        attempt=attempt,
    )


async def run(ex: Executor, job: Job, timeout: float = 30) -> Recorder:
    rec = Recorder()
    ex.submit(job, rec)
    await rec.wait(timeout)
    return rec


@pytest.fixture
async def executor():
    ex = Executor(workers=2, extra_sys_path=[str(ROOT)])
    await ex.start()
    try:
        yield ex
    finally:
        await asyncio.wait_for(ex.stop(), 20)


async def test_success_and_outputs(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "add", x=2, y=3)
    rec = await run(executor, job)
    assert rec.phases == ["INITIALIZING", "RUNNING", "SUCCEEDED"]
    assert rec.final.error_kind is None
    assert read_outputs(job, "add") == [5]


async def test_str_paths_are_accepted(executor: Executor, tmp_path: Path) -> None:
    base = make_job(tmp_path, "crash", code=5)
    job = Job(base.job_id, MODULE, "crash", str(base.inputs_path), str(base.outputs_path), str(base.log_path))
    assert isinstance(job.log_path, Path)
    rec = await run(executor, job)
    assert (rec.final.error_code, "exit code 5" in job.log_path.read_text()) == ("WorkerCrashed", True)


async def test_unwritable_log_is_a_system_error(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "add", x=1, y=2)
    (tmp_path / "a_file").write_text("")
    job.log_path = tmp_path / "a_file" / "log.txt"  # a directory that is a file
    rec = await run(executor, job)
    assert (rec.final.phase, rec.final.error_kind, rec.final.error_code) == ("FAILED", "SYSTEM", "LogUnavailable")
    assert (await run(executor, make_job(tmp_path, "add", x=1, y=2))).final.phase == "SUCCEEDED"


async def test_many_types_round_trip(executor: Executor, tmp_path: Path) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    cases: list[tuple[str, dict[str, Any], list[Any]]] = [
        ("greet", {"name": "Bob"}, ["Hello, Bob!"]),
        ("greet", {"name": "Bob", "greeting": "Hi"}, ["Hi, Bob!"]),
        ("noop", {}, []),
        ("make_point", {"x": 1, "y": 2}, [sample_tasks.Point(1, 2, "p")]),
        ("move_point", {"p": sample_tasks.Point(1, 2, "a")}, [sample_tasks.Point(2, 3, "a")]),
        ("sum_list", {"xs": [1, 2, 3]}, [6]),
        ("word_counts", {"text": "a b a"}, [{"a": 2, "b": 1}]),
        ("total_values", {"d": {"a": 1, "b": 2}}, [3]),
        ("maybe_double", {"x": 4}, [8]),
        ("maybe_double", {"x": None}, [None]),
        ("add_days", {"when": when, "delta": dt.timedelta(days=1)}, [when + dt.timedelta(days=1)]),
        ("split_name", {"full": "ada lovelace"}, [2, "ADA"]),
        ("divmod_task", {"a": 7, "b": 2}, [3, 1]),
        ("order_total", {"order": sample_tasks.Order(item="x", quantity=3, unit_price=2.5)}, [7.5]),
        ("make_order", {"item": "y", "quantity": 2}, [sample_tasks.Order(item="y", quantity=2)]),
        ("async_add", {"x": 20, "y": 22}, [42]),
        ("scale", {"value": 1.5}, [3.0]),
        ("negate", {"flag": True}, [False]),
    ]
    jobs = [(make_job(tmp_path, fn, **vals), fn, want) for fn, vals, want in cases]
    recs = []
    for job, _, _ in jobs:
        rec = Recorder()
        executor.submit(job, rec)
        recs.append(rec)
    await asyncio.gather(*(r.wait() for r in recs))
    for (job, fn, want), rec in zip(jobs, recs, strict=True):
        assert rec.final.phase == "SUCCEEDED", (fn, rec.updates, job.log_path.read_text())
        got = read_outputs(job, fn)
        if fn == "add_days":
            assert got[0].timestamp() == want[0].timestamp()
        else:
            assert got == want, fn


async def test_user_error(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "fail_user", message="nope")
    rec = await run(executor, job)
    u = rec.final
    assert rec.phases == ["INITIALIZING", "RUNNING", "FAILED"]
    assert (u.error_kind, u.error_code, u.error_message) == ("USER", "ValueError", "ValueError: nope")
    log = job.log_path.read_text()
    assert "Traceback" in log and "ValueError: nope" in log and "fail_user" in log
    assert not job.outputs_path.exists()


async def test_bad_inputs_fail_as_user_errors(executor: Executor, tmp_path: Path) -> None:
    import msgpack
    from flyteidl2.core import literals_pb2

    # A struct that does not fit the declared dataclass: decoding fails before RUNNING.
    job = make_job(tmp_path, "move_point", p=sample_tasks.Point(1, 2))
    bad = common_pb2.Inputs()
    blob = literals_pb2.Binary(value=msgpack.packb({"x": "a", "y": 1}), tag="msgpack")
    bad.literals.add(name="p", value=literals_pb2.Literal(scalar=literals_pb2.Scalar(binary=blob)))
    job.inputs_path.write_bytes(bad.SerializeToString())
    rec = await run(executor, job)
    assert rec.phases == ["INITIALIZING", "FAILED"]
    assert (rec.final.error_kind, rec.final.error_code) == ("USER", "InvalidInput")
    assert "'p'" in (rec.final.error_message or "")
    assert "InvalidInput" in job.log_path.read_text()

    # The codec decodes a mistyped primitive as sent; the function then fails, as a USER error.
    job = make_job(tmp_path, "add", x=1, y=2)
    bad = common_pb2.Inputs()
    bad.literals.add(
        name="x",
        value=literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(string_value="one"))),
    )
    bad.literals.add(
        name="y", value=literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=2)))
    )
    job.inputs_path.write_bytes(bad.SerializeToString())
    rec = await run(executor, job)
    assert (rec.final.phase, rec.final.error_kind, rec.final.error_code) == ("FAILED", "USER", "TypeError")

    missing = make_job(tmp_path, "add", x=1)
    rec = await run(executor, missing)
    assert (rec.final.phase, rec.final.error_code) == ("FAILED", "InvalidInput")
    assert "y" in (rec.final.error_message or "")

    garbage = make_job(tmp_path, "add", x=1, y=2)
    garbage.inputs_path.write_bytes(b"\xff\xff not a protobuf")
    rec = await run(executor, garbage)
    assert (rec.final.phase, rec.final.error_kind) == ("FAILED", "USER")

    unknown = make_job(tmp_path, "add", x=1, y=2)
    unknown.function = "no_such_function"
    rec = await run(executor, unknown)
    assert (rec.final.phase, rec.final.error_code) == ("FAILED", "TaskNotFound")


async def test_crash_is_a_system_error_and_worker_is_replaced(executor: Executor, tmp_path: Path) -> None:
    pids = set(executor.worker_pids)
    job = make_job(tmp_path, "crash", code=3)
    rec = await run(executor, job)
    u = rec.final
    assert (u.phase, u.error_kind, u.error_code) == ("FAILED", "SYSTEM", "WorkerCrashed")
    assert "exit code 3" in (u.error_message or "")
    assert "exit code 3" in job.log_path.read_text()
    # the pool heals and the next jobs work
    for i in range(4):
        job = make_job(tmp_path, "add", x=i, y=1)
        assert (await run(executor, job)).final.phase == "SUCCEEDED"
        assert read_outputs(job, "add") == [i + 1]
    deadline = time.monotonic() + 20
    while len(executor.worker_pids) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110 - nothing to await: worker processes come up
        await asyncio.sleep(0.05)
    assert len(executor.worker_pids) == 2
    assert set(executor.worker_pids) != pids


async def test_system_exit_does_not_kill_worker(executor: Executor, tmp_path: Path, monkeypatch) -> None:
    # sys.exit inside a task is an exception in the worker, not a dead worker.
    src = tmp_path / "mods" / "exiting.py"
    src.parent.mkdir()
    src.write_text("import sys\n\ndef leave(code: int) -> int:\n    sys.exit(code)\n")
    ex = Executor(workers=1, extra_sys_path=[str(src.parent)])
    await ex.start()
    try:
        pid = ex.worker_pids
        d = tmp_path / "j"
        d.mkdir()
        (d / "in.pb").write_bytes(b"")
        job = Job("x1", "exiting", "leave", d / "in.pb", d / "out.pb", d / "log", None, 1)
        rec = await run(ex, job)
        assert (rec.final.phase, rec.final.error_code) == ("FAILED", "InvalidInput")  # 'code' missing
        from flyte_remote_core.codec import literal_type_for, to_literal

        msg = common_pb2.Inputs()
        msg.literals.add(name="code", value=to_literal(4, literal_type_for(int)))
        (d / "in.pb").write_bytes(msg.SerializeToString())
        job = Job("x2", "exiting", "leave", d / "in.pb", d / "out.pb", d / "log", None, 1)
        rec = await run(ex, job)
        assert (rec.final.phase, rec.final.error_kind, rec.final.error_code) == ("FAILED", "USER", "SystemExit")
        assert ex.worker_pids == pid
    finally:
        await ex.stop()


async def test_hang_times_out_and_worker_is_replaced(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "hang", timeout_s=0.5)
    t0 = time.monotonic()
    rec = await run(executor, job)
    assert rec.final.phase == "TIMED_OUT"
    assert time.monotonic() - t0 < 10
    assert "timeout" in job.log_path.read_text()
    job = make_job(tmp_path, "add", x=1, y=1)
    assert (await run(executor, job)).final.phase == "SUCCEEDED"


async def test_abort_running_job(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "sleepy", seconds=60.0)
    rec = Recorder()
    executor.submit(job, rec)
    await asyncio.wait_for(rec.running.wait(), 30)
    assert await executor.abort(job.job_id) is True
    assert rec.final.phase == "ABORTED"
    assert rec.phases == ["INITIALIZING", "RUNNING", "ABORTED"]
    assert await executor.abort(job.job_id) is False  # already finished
    assert await executor.abort("never-submitted") is False
    job = make_job(tmp_path, "add", x=2, y=2)
    assert (await run(executor, job)).final.phase == "SUCCEEDED"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie is dead, just not reaped
    except FileNotFoundError:
        return False


async def _wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls another process
        await asyncio.sleep(0.05)
    return not _alive(pid)


async def test_abort_kills_processes_the_task_started(executor: Executor, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    job = make_job(tmp_path, "spawn_and_hang", pid_file=str(pid_file))
    rec = Recorder()
    executor.submit(job, rec)
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    child = int(pid_file.read_text())
    assert _alive(child)
    assert await executor.abort(job.job_id)
    assert await _wait_dead(child)


async def test_workers_exit_when_the_server_dies(tmp_path: Path) -> None:
    # A server killed outright (no stop()) must not leave workers behind, even busy ones.
    script = f"""
import asyncio, os, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from flyte_remote_core.devserver.execution.interface import Job
from flyte_remote_core.devserver.execution.pool import Executor
async def main():
    ex = Executor(workers=2, extra_sys_path=[{str(ROOT)!r}])
    await ex.start()
    d = Path({str(tmp_path)!r})
    (d / "in.pb").write_bytes(b"")
    ex.submit(Job("h", "tests.devserver.sample_tasks", "hang", d / "in.pb", d / "out.pb", d / "log"), lambda u: None)
    await asyncio.sleep(0.5)
    print(" ".join(map(str, ex.worker_pids)), flush=True)
    os._exit(9)
asyncio.run(main())
"""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    pids = [int(p) for p in out.split()]
    assert len(pids) == 2
    for pid in pids:
        assert await _wait_dead(pid, 10), f"worker {pid} outlived its server"


async def test_abort_queued_job(tmp_path: Path) -> None:
    ex = Executor(workers=1, extra_sys_path=[str(ROOT)])
    await ex.start()
    try:
        blocker, queued = make_job(tmp_path, "hang"), make_job(tmp_path, "add", x=1, y=2)
        rb, rq = Recorder(), Recorder()
        ex.submit(blocker, rb)
        ex.submit(queued, rq)
        await asyncio.wait_for(rb.running.wait(), 30)
        assert ex.queued == 1
        assert await ex.abort(queued.job_id, reason="not needed") is True
        assert rq.phases == ["ABORTED"] and rq.final.error_message == "not needed"
        assert ex.queued == 0
        assert await ex.abort(blocker.job_id) is True
        assert rb.final.phase == "ABORTED"
        job = make_job(tmp_path, "add", x=5, y=5)
        assert (await run(ex, job)).final.phase == "SUCCEEDED"
    finally:
        await ex.stop()


async def test_logs_are_captured_and_live(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "chatty", lines=4, pause=0.4)
    rec = Recorder()
    executor.submit(job, rec)
    # The first lines must be visible while the job is still running.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = job.log_path.read_text() if job.log_path.exists() else ""
        if "stdout line 0" in text and "stderr line 0" in text and "log line 0" in text:
            break
        await asyncio.sleep(0.02)
    assert not rec.done.is_set(), "log lines only appeared after the job finished"
    assert "stdout line 3" not in text
    assert (await rec.wait()).phase == "SUCCEEDED"
    text = job.log_path.read_text()
    for i in range(4):
        assert f"stdout line {i}" in text and f"stderr line {i}" in text and f"log line {i}" in text
    assert "INFO sample_tasks: log line 0" in text

    # Logs of later jobs do not leak into this one, and logs append across attempts.
    other = make_job(tmp_path, "chatty", lines=1)
    await run(executor, other)
    assert job.log_path.read_text() == text
    again = Job(**{**job.__dict__, "job_id": job.job_id + "-2", "attempt": 2})
    await run(executor, again)
    assert job.log_path.read_text().startswith(text) and len(job.log_path.read_text()) > len(text)


async def test_flaky_task_succeeds_on_second_attempt(executor: Executor, tmp_path: Path) -> None:
    marker = tmp_path / "flaky.marker"
    first = make_job(tmp_path, "flaky", attempt=1, marker=str(marker))
    assert (await run(executor, first)).final.error_code == "RuntimeError"
    second = make_job(tmp_path, "flaky", attempt=2, marker=str(marker))
    assert (await run(executor, second)).final.phase == "SUCCEEDED"
    assert read_outputs(second, "flaky") == ["recovered"]


async def test_module_change_is_picked_up(tmp_path: Path) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    src = mods / "changing.py"
    src.write_text("def value() -> int:\n    return 1\n")
    ex = Executor(workers=1, extra_sys_path=[str(mods)])
    await ex.start()
    try:
        d = tmp_path / "j"
        d.mkdir()
        (d / "in.pb").write_bytes(b"")

        async def value(n: int) -> int:
            job = Job(f"v{n}", "changing", "value", d / "in.pb", d / f"out{n}.pb", d / "log", None, 1)
            assert (await run(ex, job)).final.phase == "SUCCEEDED", (d / "log").read_text()
            out = common_pb2.Outputs()
            out.ParseFromString(job.outputs_path.read_bytes())
            return out.literals[0].value.scalar.primitive.integer

        assert await value(1) == 1
        src.write_text("def value() -> int:\n    return 2\n")
        st = src.stat()
        os.utime(src, (st.st_atime, st.st_mtime + 5))
        assert await value(2) == 2
    finally:
        await ex.stop()


async def test_throughput_200_trivial_jobs(executor: Executor, tmp_path: Path) -> None:
    # One inputs file shared by every job: only execution is timed.
    inputs = write_inputs(tmp_path / "inputs.pb", "add", x=1, y=2)
    jobs = [
        Job(f"t{i}", MODULE, "add", inputs, tmp_path / f"o{i}" / "outputs.pb", tmp_path / "logs" / f"{i}.txt")
        for i in range(200)
    ]
    # warm: the first job on each worker imports the module
    await asyncio.gather(*(run(executor, make_job(tmp_path, "add", x=0, y=0)) for _ in range(2)))
    recs = [Recorder() for _ in jobs]
    t0 = time.perf_counter()
    for job, rec in zip(jobs, recs, strict=True):
        executor.submit(job, rec)
    await asyncio.gather(*(r.wait(60) for r in recs))
    elapsed = time.perf_counter() - t0
    assert all(r.final.phase == "SUCCEEDED" for r in recs)
    assert read_outputs(jobs[-1], "add") == [3]
    print(f"\n200 trivial jobs in {elapsed:.2f}s: {200 / elapsed:.0f} jobs/s with 2 workers")


async def test_stop_with_jobs_in_flight_does_not_hang(tmp_path: Path) -> None:
    ex = Executor(workers=2, extra_sys_path=[str(ROOT)])
    await ex.start()
    jobs = [make_job(tmp_path, "hang"), make_job(tmp_path, "sleepy", seconds=60.0), make_job(tmp_path, "add", x=1, y=1)]
    recs = [Recorder() for _ in jobs]
    for job, rec in zip(jobs, recs, strict=True):
        ex.submit(job, rec)
    await asyncio.wait_for(asyncio.gather(recs[0].running.wait(), recs[1].running.wait()), 30)
    pids = ex.worker_pids
    t0 = time.monotonic()
    await asyncio.wait_for(ex.stop(), 15)
    assert time.monotonic() - t0 < 10
    assert [r.final.phase for r in recs] == ["ABORTED", "ABORTED", "ABORTED"]
    for pid in pids:  # the workers are gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(RuntimeError):
        ex.submit(make_job(tmp_path, "add", x=1, y=1), Recorder())


async def test_duplicate_job_id_is_refused(executor: Executor, tmp_path: Path) -> None:
    job = make_job(tmp_path, "sleepy", seconds=0.2)
    rec = Recorder()
    executor.submit(job, rec)
    with pytest.raises(ValueError):
        executor.submit(job, Recorder())
    assert (await rec.wait()).phase == "SUCCEEDED"
