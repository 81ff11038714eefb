"""classify(): every way a step ends, from real devserver runs, and the one retry rule."""

from __future__ import annotations

import threading
import time

import pytest

from flyte_remote_core import FlyteClient, FlyteError, Phase, RunError, encode_api_key
from flyte_remote_core.orchestration import (
    Outcome,
    OutcomeKind,
    OutputTypeError,
    classify,
    secrets_of,
)

pytestmark = pytest.mark.timeout(90)


def outcome_of(client: FlyteClient, task: str, inputs: dict | None = None, **options) -> Outcome:
    """Run ``task`` to completion the way an integration does, and classify what came back."""
    try:
        result = client.run_to_completion(task, inputs or {}, key=f"classify/{task}/{time.monotonic_ns()}", **options)
    except FlyteError as exc:
        return classify(exc)
    return classify(result)


def test_the_retry_rule_is_one_table() -> None:
    retried = {k for k in OutcomeKind if k.is_retryable()}
    assert retried == {OutcomeKind.FAILED_SYSTEM, OutcomeKind.DEADLINE, OutcomeKind.UNAVAILABLE}
    opted_in = {k for k in OutcomeKind if k.is_retryable(retry_user_errors=True)}
    assert opted_in == retried | {OutcomeKind.FAILED_USER}


def test_a_succeeded_run(flyte_devserver) -> None:
    outcome = outcome_of(flyte_devserver.client, "sample_tasks.add", {"x": 1, "y": 2})
    assert outcome.kind is OutcomeKind.SUCCEEDED and outcome.ok and not outcome.retryable
    assert outcome.phase == "SUCCEEDED" and outcome.run_name and outcome.run_name in (outcome.url or "")


def test_a_user_error_is_not_retried_unless_asked(flyte_devserver) -> None:
    client = flyte_devserver.client
    with pytest.raises(RunError) as err:
        client.run_to_completion("sample_tasks.fail_user", {"message": "the value is bad"}, key="classify/user")
    outcome = classify(err.value)
    assert outcome.kind is OutcomeKind.FAILED_USER and not outcome.retryable
    assert (outcome.phase, outcome.error_kind) == ("FAILED", "USER")
    assert "the value is bad" in outcome.detail and "the value is bad" in outcome.message
    assert outcome.url and outcome.run_name in outcome.url
    assert classify(err.value, retry_user_errors=True).retryable


def test_a_system_error_is_retried(flyte_devserver) -> None:
    outcome = outcome_of(flyte_devserver.client, "sample_tasks.crash", {"code": 3})
    assert outcome.kind is OutcomeKind.FAILED_SYSTEM and outcome.retryable
    assert outcome.error_kind == "SYSTEM"


def test_an_aborted_run_is_not_retried(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.hang", {})
    run.wait(quiet=True, wait_for="running", timeout=30)
    threading.Timer(0.5, lambda: run.abort("stopped by an operator")).start()
    try:
        client.wait_for_result(run, deadline=time.time() + 30)
    except FlyteError as exc:
        outcome = classify(exc)
    assert outcome.kind is OutcomeKind.ABORTED and not outcome.retryable
    assert outcome.detail == "stopped by an operator" and "ABORTED" in outcome.message


def test_a_run_past_the_tasks_own_timeout_is_not_retried(flyte_devserver) -> None:
    outcome = outcome_of(flyte_devserver.client, "sample_tasks.slow_with_timeout", {"seconds": 30.0})
    assert outcome.kind is OutcomeKind.TIMED_OUT and not outcome.retryable
    assert outcome.phase == "TIMED_OUT"


@pytest.mark.parametrize("abort_works", [True, False], ids=["abort-ok", "abort-refused"])
def test_a_passed_deadline_is_retried_and_says_whether_the_run_was_aborted(flyte_devserver, abort_works) -> None:
    client = flyte_devserver.client
    if not abort_works:
        flyte_devserver.admin.fail_next("AbortRun", "PERMISSION_DENIED", count=50)
    outcome = outcome_of(client, "sample_tasks.hang", deadline=time.time() + 1.0)
    assert outcome.kind is OutcomeKind.DEADLINE and outcome.retryable
    assert outcome.aborted is abort_works and outcome.error_kind == "TIMEOUT"
    assert f"passed before run {outcome.run_name} finished" in outcome.message
    run = client.get_run(outcome.run_name)
    if abort_works:
        assert "the run was aborted" in outcome.message
        run.wait(quiet=True, timeout=30)
        assert run.phase is Phase.ABORTED
    else:
        assert "could NOT be aborted" in outcome.message and "was aborted" not in outcome.message
        flyte_devserver.admin.clear_faults()
        assert not run.done()
        run.abort("test cleanup")


def test_a_deadline_without_abort_leaves_the_run_alone(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.hang", {})
    try:
        client.wait_for_result(run, deadline=time.time() + 1.0, abort_on_deadline=False)
    except FlyteError as exc:
        outcome = classify(exc, deadline_limit="the sensor's timeout")
    assert outcome.kind is OutcomeKind.DEADLINE and outcome.aborted is None
    assert "the deadline (the sensor's timeout) passed" in outcome.message and "goes on" in outcome.message
    assert not client.get_run(run.name).done()
    run.abort("test cleanup")


def test_bad_inputs_are_not_retried_and_nothing_is_launched(flyte_devserver) -> None:
    outcome = outcome_of(flyte_devserver.client, "sample_tasks.add", {"x": 1, "y": "seven"})
    assert outcome.kind is OutcomeKind.INVALID and not outcome.retryable
    assert "'y'" in outcome.message and outcome.error_kind == "INPUT"
    assert flyte_devserver.admin.call_count("CreateRun") == 0


def test_an_unknown_task_is_not_retried(flyte_devserver) -> None:
    outcome = outcome_of(flyte_devserver.client, "sample_tasks.no_such_task")
    assert outcome.kind is OutcomeKind.NOT_FOUND and not outcome.retryable


def test_outputs_that_do_not_fit_the_requested_types_are_not_retried(flyte_devserver) -> None:
    client = flyte_devserver.client
    with pytest.raises(OutputTypeError) as err:  # a TypeError too, for callers that caught that
        client.run_to_completion(
            "sample_tasks.make_point", {"x": 1, "y": 2}, key="classify/types", output_types={"o0": int}
        )
    assert isinstance(err.value, TypeError)
    outcome = classify(err.value)
    assert outcome.kind is OutcomeKind.OUTPUT_TYPE and not outcome.retryable


def test_a_refused_call_is_not_retried_and_a_transient_one_is(flyte_devserver) -> None:
    flyte_devserver.admin.fail_next("CreateRun", "PERMISSION_DENIED", count=1)
    refused = outcome_of(flyte_devserver.client, "sample_tasks.add", {"x": 1, "y": 1})
    assert refused.kind is OutcomeKind.REFUSED and not refused.retryable
    assert refused.error_code == "PERMISSION_DENIED" and refused.error_kind == "TRANSPORT"

    with FlyteClient("127.0.0.1:9", insecure=True, rpc_timeout=2) as nowhere:
        unreachable = outcome_of(nowhere, "sample_tasks.add", {"x": 1, "y": 1})
    assert unreachable.kind is OutcomeKind.UNAVAILABLE and unreachable.retryable


def test_anything_else_is_not_retried() -> None:
    outcome = classify(RuntimeError("a bug"))
    assert outcome.kind is OutcomeKind.ERROR and not outcome.retryable
    assert outcome.message == "RuntimeError: a bug"


def test_secrets_never_reach_an_outcome(flyte_devserver) -> None:
    api_key = encode_api_key(flyte_devserver.endpoint, "robot", "s3cret-value-42")
    secrets = secrets_of({"api_key": api_key, "client_secret": "other-secret-7"})
    assert set(secrets) == {api_key, "s3cret-value-42", "other-secret-7"}
    with pytest.raises(RunError) as err:
        flyte_devserver.client.run_to_completion(
            "sample_tasks.fail_user", {"message": "key s3cret-value-42 leaked"}, key="classify/secret"
        )
    outcome = classify(err.value, secrets=secrets)
    assert "s3cret-value-42" not in outcome.message + outcome.detail
    assert "***" in outcome.detail
