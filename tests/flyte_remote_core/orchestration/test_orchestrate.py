"""run_to_completion / wait_for_result: the launch-wait-collect both integrations share."""

from __future__ import annotations

import time

import pytest

from flyte_remote_core import Phase, RunFailedError, WaitTimeoutError

pytestmark = pytest.mark.timeout(60)


def test_run_to_completion_reports_launch_logs_and_typed_outputs(flyte_devserver) -> None:
    from tests.devserver.sample_tasks import Point

    client = flyte_devserver.client
    launched: list[tuple[str, str]] = []
    lines: list[str] = []
    result = client.run_to_completion(
        "sample_tasks.make_point",
        {"x": 3, "y": 4},
        key="pipeline/step",
        attempt=1,
        on_launched=lambda run, outcome: launched.append((run.name, outcome.action)),
        log_line=lines.append,
        output_types={"o0": Point},
    )
    assert launched == [(result.run_name, "launched")]
    assert result.phase == "SUCCEEDED" and result.launch == "launched"
    assert result.outputs["o0"] == Point(x=3, y=4, label="p")
    assert result.json_outputs == {"o0": {"x": 3, "y": 4, "label": "p"}}
    assert result.url == client.run_url(result.run_name)


def test_logs_reach_the_callback(flyte_devserver) -> None:
    lines: list[str] = []
    flyte_devserver.client.run_to_completion(
        "sample_tasks.chatty", {"lines": 3, "pause": 0.2}, key="chatty", log_line=lines.append
    )
    assert sum("line" in line.lower() for line in lines) >= 3, lines


def test_deadline_aborts_the_run_and_says_so(flyte_devserver) -> None:
    client = flyte_devserver.client
    with pytest.raises(WaitTimeoutError) as err:
        client.run_to_completion("sample_tasks.hang", {}, key="deadline", deadline=time.time() + 1.0)
    assert err.value.aborted is True
    run = client.get_run(err.value.run_name)
    run.wait(quiet=True, timeout=30)
    assert run.phase is Phase.ABORTED


def test_failures_raise_typed_errors(flyte_devserver) -> None:
    with pytest.raises(RunFailedError) as err:
        flyte_devserver.client.run_to_completion("sample_tasks.fail_user", {"message": "nope"}, key="fails")
    assert err.value.kind == "USER" and not err.value.retryable
    assert "nope" in err.value.message
