"""How a launch sends its inputs: small ones inline in CreateRun (one call), large ones offloaded
first (UploadInputs), and a backend that refuses inline inputs is remembered and offloaded to."""

from __future__ import annotations

import pytest

from flyte_remote_core import FlyteClient, InvalidArgumentError

pytestmark = pytest.mark.timeout(60)

LAUNCH_CALLS = ("SelectCluster", "UploadInputs", "CreateRun")


def calls(admin) -> dict[str, int]:
    return {method: admin.call_count(method) for method in LAUNCH_CALLS}


def test_small_inputs_ride_on_create_run_and_the_task_sees_them(flyte_devserver) -> None:
    client, admin = flyte_devserver.client, flyte_devserver.admin
    task = client.get_task("sample_tasks.add")
    admin.reset_counters()
    run = client.run(task, {"x": 40, "y": 2})
    assert calls(admin) == {"SelectCluster": 0, "UploadInputs": 0, "CreateRun": 1}
    run.wait(quiet=True)
    assert run.outputs()[0] == 42
    assert run.inputs()["x"] == 40


def test_large_inputs_are_offloaded_first(flyte_devserver) -> None:
    client, admin = flyte_devserver.client, flyte_devserver.admin
    name = "n" * 100_000  # over the 64 KiB inline limit
    admin.reset_counters()
    run = client.run("sample_tasks.greet", {"name": name})
    assert calls(admin)["UploadInputs"] == 1 and calls(admin)["CreateRun"] == 1
    run.wait(quiet=True)
    assert run.outputs()[0] == f"Hello, {name}!"


def test_a_backend_refusing_inline_inputs_gets_offloaded_inputs_from_then_on(flyte_devserver) -> None:
    admin = flyte_devserver.admin
    with FlyteClient(flyte_devserver.endpoint, insecure=True) as client:
        task = client.get_task("sample_tasks.add")
        admin.reset_counters()
        admin.fail_next("CreateRun", "INVALID_ARGUMENT", message="inputs must be offloaded")
        first = client.run(task, {"x": 1, "y": 2})
        # The refused CreateRun created nothing; the same launch went again, offloaded.
        assert calls(admin) == {"SelectCluster": 1, "UploadInputs": 1, "CreateRun": 2}
        second = client.run(task, {"x": 3, "y": 4})
        assert calls(admin) == {"SelectCluster": 1, "UploadInputs": 2, "CreateRun": 3}
        first.wait(quiet=True)
        second.wait(quiet=True)
        assert (first.outputs()[0], second.outputs()[0]) == (3, 7)
        assert len(client.list_runs(task_name="sample_tasks.add", limit=1000)) >= 2


def test_an_invalid_launch_still_fails_and_keeps_inline_inputs(flyte_devserver) -> None:
    """An INVALID_ARGUMENT that offloading does not cure is the caller's error, not a refusal."""
    admin = flyte_devserver.admin
    with FlyteClient(flyte_devserver.endpoint, insecure=True) as client:
        task = client.get_task("sample_tasks.add")
        admin.reset_counters()
        admin.fail_next("CreateRun", "INVALID_ARGUMENT", count=2, message="no such queue")
        with pytest.raises(InvalidArgumentError, match="no such queue"):
            client.run(task, {"x": 1, "y": 2})
        admin.reset_counters()
        client.run(task, {"x": 1, "y": 2}).wait(quiet=True)
        assert calls(admin) == {"SelectCluster": 0, "UploadInputs": 0, "CreateRun": 1}
