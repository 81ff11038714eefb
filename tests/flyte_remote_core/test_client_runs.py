"""FlyteClient against the devserver over real gRPC: tasks, launching, waiting, outputs, errors, abort."""

from __future__ import annotations

import asyncio
import re

import pytest

from flyte_remote_core import (
    FlyteClient,
    InvalidInputError,
    InvalidRunNameError,
    NotFoundError,
    Phase,
    RunAbortedError,
    RunAlreadyExistsError,
    RunError,
    RunFailedError,
    WaitTimeoutError,
)
from tests.flyte_remote_core._watching import lingers_then_stops, watcher_of

pytestmark = pytest.mark.timeout(60)


def test_get_task_latest_exposes_the_typed_interface(flyte_devserver) -> None:
    task = flyte_devserver.client.get_task("sample_tasks.greet")
    assert task.name == "sample_tasks.greet"
    assert task.version
    assert [(i.name, i.type, i.required) for i in task.inputs] == [("name", "str", True), ("greeting", "str", False)]
    assert task.inputs[1].default == "Hello"
    assert [(o.name, o.type) for o in task.outputs] == [("o0", "str")]
    same = flyte_devserver.client.get_task("sample_tasks.greet", version=task.version)
    assert same.version == task.version


def test_unknown_task_is_a_clear_not_found(flyte_devserver) -> None:
    with pytest.raises(NotFoundError) as err:
        flyte_devserver.client.get_task("sample_tasks.nope")
    assert "sample_tasks.nope" in str(err.value)


def test_run_wait_outputs(flyte_devserver) -> None:
    client: FlyteClient = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 1, "y": 2})
    assert re.fullmatch(r"r[bcdfghjklmnpqrstvwxz2456789]{19}", run.name)
    assert run.url == f"http://{flyte_devserver.endpoint}/v2/domain/development/project/flytesnacks/runs/{run.name}"
    run.wait(quiet=True)
    assert run.phase is Phase.SUCCEEDED and run.done()
    outputs = run.outputs()
    assert outputs[0] == 3 and outputs["o0"] == 3
    assert outputs.named == {"o0": 3}
    assert outputs.to_dict() == {"o0": 3}
    assert dict(run.inputs()) == {"x": 1, "y": 2}


def test_async_forms_share_the_implementation(flyte_devserver) -> None:
    client: FlyteClient = flyte_devserver.client

    async def main() -> tuple[int, str]:
        run = await client.run.aio("sample_tasks.divmod_task", {"a": 7, "b": 2})
        await run.wait.aio(quiet=True)
        outputs = await run.outputs.aio()
        return outputs.named, run.phase.value

    named, phase = asyncio.run(main())
    assert named == {"o0": 3, "o1": 1}
    assert phase == "SUCCEEDED"


def test_wait_shows_a_panel_unless_quiet(flyte_devserver, capsys) -> None:
    run = flyte_devserver.client.run("sample_tasks.add", {"x": 2, "y": 2})
    run.wait()  # not quiet: the rich panel goes to stderr
    err = capsys.readouterr().err
    assert run.name in err and "SUCCEEDED" in err


def test_strings_are_coerced_to_declared_types(flyte_devserver) -> None:
    run = flyte_devserver.client.run("sample_tasks.add", {"x": "40", "y": "2"})
    assert run.wait(quiet=True).outputs().named == {"o0": 42}


@pytest.mark.parametrize(
    "inputs, needle",
    [({"x": 1}, "'y'"), ({"x": 1, "y": 2, "z": 3}, "'z'"), ({"x": "one", "y": 2}, "'x'"), ({"x": 1.5, "y": 2}, "'x'")],
)
def test_bad_inputs_fail_before_anything_is_sent(flyte_devserver, inputs, needle) -> None:
    admin = flyte_devserver.admin
    admin.reset_counters()
    with pytest.raises(InvalidInputError) as err:
        flyte_devserver.client.run("sample_tasks.add", inputs)
    assert needle in str(err.value)
    assert admin.call_count("CreateRun") == 0
    assert admin.call_count("UploadInputs") == 0


def test_user_failure_raises_with_kind_message_and_url(flyte_devserver) -> None:
    run = flyte_devserver.client.run("sample_tasks.fail_user", {"message": "bad value 42"})
    run.wait(quiet=True)
    assert run.phase is Phase.FAILED
    with pytest.raises(RunFailedError) as err:
        run.outputs()
    assert err.value.kind == "USER"
    assert "bad value 42" in err.value.message
    assert err.value.url == run.url


def test_outputs_before_the_end_raise_instead_of_none(flyte_devserver) -> None:
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    try:
        run = flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 1})
        run.wait(quiet=True, wait_for="running")
        with pytest.raises(RunError):
            run.outputs()
    finally:
        admin.release_all()


def test_abort_running_run(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.hang")
    run.wait(quiet=True, wait_for="running")
    run.abort("enough")
    run.wait(quiet=True)
    assert run.phase is Phase.ABORTED
    with pytest.raises(RunAbortedError) as err:
        run.outputs()
    assert "enough" in str(err.value)
    run.abort()  # aborting a finished run is harmless


def test_abort_unknown_run_is_not_found(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 1, "y": 1})
    ghost = type(run)(run.pb2.__class__(), services=client.services)
    ghost.pb2.CopyFrom(run.pb2)
    ghost.pb2.action.id.run.name = "nosuchrun"
    with pytest.raises(NotFoundError):
        ghost.abort()


def test_wait_timeout_is_typed_and_leaves_no_stream(flyte_devserver) -> None:
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    try:
        client = flyte_devserver.client
        run = client.run("sample_tasks.add", {"x": 1, "y": 1})

        async def main() -> None:
            watcher = watcher_of(client)
            watcher.linger = 0.3
            with pytest.raises(WaitTimeoutError) as err:
                await run.wait.aio(quiet=True, timeout=0.3)
            assert run.name in str(err.value)
            await lingers_then_stops(watcher)

        asyncio.run(main())
    finally:
        admin.release_all()


def test_invalid_run_name_is_rejected_locally(flyte_devserver) -> None:
    flyte_devserver.admin.reset_counters()
    with pytest.raises(InvalidRunNameError):
        flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 1}, name="Bad_Name")
    assert flyte_devserver.admin.call_count("CreateRun") == 0


def test_existing_name_comes_back_as_a_typed_outcome(flyte_devserver) -> None:
    client = flyte_devserver.client
    first = client.run("sample_tasks.add", {"x": 1, "y": 1}, name="dup-name-1")
    with pytest.raises(RunAlreadyExistsError) as err:
        client.run("sample_tasks.add", {"x": 5, "y": 5}, name="dup-name-1")
    assert err.value.run.name == first.name
    assert err.value.run.wait(quiet=True).outputs().named == {"o0": 2}


def test_watch_streams_phases_in_order(flyte_devserver) -> None:
    run = flyte_devserver.client.run("sample_tasks.sleepy", {"seconds": 0.3})
    phases = [d.phase for d in run.watch()]
    assert phases[-1] is Phase.SUCCEEDED
    # A fresh state is sent on every change, so a phase may repeat; it never goes back.
    ranks = [p.raw for p in phases]
    assert ranks == sorted(ranks), phases
    assert Phase.RUNNING in phases


def test_logs_are_streamed(flyte_devserver) -> None:
    run = flyte_devserver.client.run("sample_tasks.chatty", {"lines": 3})
    run.wait(quiet=True)
    lines = list(run.logs(follow=False))
    assert sum("line" in line.lower() for line in lines) >= 3, lines


def test_retryable_errors_are_retried_by_the_choke_point(flyte_devserver) -> None:
    run = flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 1})
    flyte_devserver.admin.fail_next("GetRunDetails", "UNAVAILABLE", count=2)
    assert flyte_devserver.client.get_run(run.name).name == run.name


def test_non_retryable_errors_are_not(flyte_devserver) -> None:
    from flyte_remote_core import PermissionDeniedError

    flyte_devserver.admin.fail_next("GetRunDetails", "PERMISSION_DENIED", count=1)
    with pytest.raises(PermissionDeniedError):
        flyte_devserver.client.get_run("whatever")


def test_list_runs_and_tasks(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 3, "y": 3})
    assert run.name in [r.name for r in client.list_runs()]
    names = {t.name for t in client.list_tasks()}
    assert {"sample_tasks.add", "sample_tasks.greet"} <= names


def test_class_level_get_has_an_async_twin(flyte_devserver) -> None:
    from flyte_remote_core import Run, Task

    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 2, "y": 3})

    async def main() -> tuple[str, str, int]:
        task = await Task.get.aio("sample_tasks.add", client=client)
        found = await Run.get.aio(run.name, client=client)
        listed = await Run.listall.aio(client=client)
        return task.name, found.name, len(listed)

    task_name, run_name, count = asyncio.run(main())
    assert (task_name, run_name) == ("sample_tasks.add", run.name) and count >= 1
    assert Run.get(run.name, client=client).name == run.name


def test_the_panel_shows_a_failure_and_its_error(flyte_devserver, capsys) -> None:
    run = flyte_devserver.client.run("sample_tasks.fail_user", {"message": "panel shows me"})
    run.wait()
    err = capsys.readouterr().err
    assert "FAILED" in err and "panel shows me" in err and "elapsed" in err
