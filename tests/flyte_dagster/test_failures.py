"""Remote failures, retries (attach, no duplicate runs), wait timeouts."""

import threading

import dagster as dg
import pytest
from dagster import AssetExecutionContext

from flyte_dagster import FlyteResource, build_flyte_asset
from tests.waiting import wait_until

from .helpers import create_runs

pytestmark = pytest.mark.timeout(120)


def _failure_data(result: dg.ExecuteInProcessResult) -> list:
    return [e.step_failure_data.user_failure_data for e in result.get_step_failure_events()]


def test_remote_user_error_fails_with_metadata_and_is_not_retried(flyte_devserver, flyte):
    broken = build_flyte_asset(
        "dagster_tasks.fail",
        key="broken",
        inputs={"message": "the value is bad"},
        retry_policy=dg.RetryPolicy(max_retries=2),
        resource=flyte,
    )
    result = dg.materialize([broken], resources={"flyte": flyte}, raise_on_error=False)
    assert not result.success
    failures = _failure_data(result)
    assert len(failures) == 1 and failures[0] is not None
    meta = failures[0].metadata
    assert isinstance(meta["dagster-flyte/run_url"], dg.UrlMetadataValue)
    assert meta["dagster-flyte/error_kind"].value == "USER"
    assert meta["dagster-flyte/phase"].value == "FAILED"
    assert "the value is bad" in meta["dagster-flyte/error_message"].value
    assert "the value is bad" in failures[0].description
    assert meta["dagster-flyte/retryable"].value is False
    assert not any(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
    assert create_runs(flyte_devserver.admin) == 1


def test_system_error_is_retried_with_a_new_run(flyte_devserver, flyte):
    crashing = build_flyte_asset(
        "sample_tasks.crash",
        key="crashing",
        inputs={"code": 3},
        retry_policy=dg.RetryPolicy(max_retries=1),
        resource=flyte,
    )
    result = dg.materialize([crashing], resources={"flyte": flyte}, raise_on_error=False)
    assert not result.success
    failures = _failure_data(result)
    assert failures[-1].metadata["dagster-flyte/error_kind"].value == "SYSTEM"
    assert sum(1 for e in result.all_events if e.event_type_value == "STEP_RESTARTED") == 1
    # The retry found attempt 1 FAILED and launched attempt 2: two distinct remote runs.
    assert create_runs(flyte_devserver.admin) == 2
    names = {r.name for r in flyte_devserver.client.list_runs()}
    assert len(names) == 2 and {n[-2:] for n in names} == {"-1", "-2"}


def test_step_retry_attaches_to_the_running_remote_run(flyte_devserver, flyte):
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)  # runs stay RUNNING until released
    attempts: list[dict] = []
    lost: dict = {}

    def lost_worker(context: AssetExecutionContext, flyte: FlyteResource) -> None:
        try:
            lost["result"] = flyte.run_task(context, "sample_tasks.add", {"x": 2, "y": 3})
        except BaseException as exc:
            lost["error"] = exc

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
    def joined(context: AssetExecutionContext, flyte: FlyteResource) -> int:
        if context.retry_number == 0:
            # The first attempt launches, then its step gives up mid-wait (as a lost worker would).
            lost["thread"] = threading.Thread(target=lost_worker, args=(context, flyte), daemon=True)
            lost["thread"].start()
            wait_until(lambda: create_runs(admin) == 1)
            raise RuntimeError("worker lost while waiting")
        release = threading.Timer(1.0, admin.release_all)
        release.start()
        result = flyte.run_task(context, "sample_tasks.add", {"x": 2, "y": 3})
        attempts.append({"launch": result.launch, "name": result.run_name})
        release.join(10)
        # The lost wait is on the same run, so it ends now too; join it before the
        # resource's client closes, so no thread outlives the test.
        lost["thread"].join(30)
        return result.value

    result = dg.materialize([joined], resources={"flyte": flyte})
    assert result.success
    assert result.output_for_node("joined") == 5
    assert attempts == [{"launch": "attached", "name": attempts[0]["name"]}]
    assert attempts[0]["name"].endswith("-1")
    assert create_runs(admin) == 1
    assert not lost["thread"].is_alive()
    assert "error" not in lost, lost.get("error")
    assert (lost["result"].launch, lost["result"].run_name, lost["result"].value) == (
        "launched",
        attempts[0]["name"],
        5,
    )


def test_explicit_run_name_retry_after_a_system_failure_launches_name_2(flyte_devserver, flyte):
    seen: list[tuple[int, str, str, bool]] = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
    def named_crash(context: AssetExecutionContext, flyte: FlyteResource) -> int:
        try:
            return flyte.run_task(context, "sample_tasks.crash", {"code": 3}, run_name="my-crash").value
        except dg.Failure as failure:
            meta = failure.metadata
            seen.append(
                (
                    context.retry_number,
                    meta["dagster-flyte/run_name"].value,
                    meta["dagster-flyte/error_kind"].value,
                    failure.allow_retries,
                )
            )
            raise

    result = dg.materialize([named_crash], resources={"flyte": flyte}, raise_on_error=False)
    assert not result.success
    # SYSTEM errors are retryable, and the retry did not attach to the FAILED "my-crash":
    # it launched "my-crash-2".
    assert seen == [(0, "my-crash", "SYSTEM", True), (1, "my-crash-2", "SYSTEM", True)]
    assert sum(1 for e in result.all_events if e.event_type_value == "STEP_RESTARTED") == 1
    assert create_runs(flyte_devserver.admin) == 2
    phases = {r.name: r.phase.value for r in flyte_devserver.client.list_runs()}
    assert phases == {"my-crash": "FAILED", "my-crash-2": "FAILED"}


def test_an_aborted_remote_run_fails_the_step_without_retries(flyte_devserver, flyte):
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    client = flyte_devserver.client

    def abort_from_outside() -> None:  # an operator aborts the run in the Flyte console
        run = wait_until(lambda: next(iter(client.list_runs()), None), timeout=30)
        wait_until(lambda: run.sync().phase.value == "RUNNING", timeout=30)
        run.abort("stopped by an operator")

    operator = threading.Thread(target=abort_from_outside, daemon=True)
    operator.start()
    held = build_flyte_asset(
        "sample_tasks.add",
        key="held",
        inputs={"x": 1, "y": 2},
        retry_policy=dg.RetryPolicy(max_retries=2),
        resource=flyte,
    )
    result = dg.materialize([held], resources={"flyte": flyte}, raise_on_error=False)
    operator.join(30)
    assert not operator.is_alive()
    assert not result.success
    [failure] = _failure_data(result)
    assert failure.metadata["dagster-flyte/phase"].value == "ABORTED"
    assert failure.metadata["dagster-flyte/retryable"].value is False
    assert "stopped by an operator" in failure.description
    assert not any(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
    assert create_runs(admin) == 1


def test_retry_reuses_a_succeeded_run(flyte_devserver, flyte):
    calls: list[str] = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
    def reused(context: AssetExecutionContext, flyte: FlyteResource) -> int:
        result = flyte.run_task(context, "sample_tasks.add", {"x": 1, "y": 1})
        calls.append(result.launch)
        if context.retry_number == 0:
            raise RuntimeError("downstream code failed after the run succeeded")
        return result.value

    result = dg.materialize([reused], resources={"flyte": flyte})
    assert result.success and calls == ["launched", "reused"]
    assert create_runs(flyte_devserver.admin) == 1


def test_wait_timeout_aborts_the_remote_run_and_fails(flyte_devserver, flyte):
    slow = build_flyte_asset(
        "dagster_tasks.slow", key="slow", inputs={"seconds": 60.0}, resource=flyte, run_options={"wait_timeout_s": 1.5}
    )
    result = dg.materialize([slow], resources={"flyte": flyte}, raise_on_error=False)
    assert not result.success
    [failure] = _failure_data(result)
    assert failure.metadata["dagster-flyte/error_kind"].value == "TIMEOUT"
    assert failure.metadata["dagster-flyte/aborted"].value is True
    assert "the run was aborted" in failure.description
    run_name = failure.metadata["dagster-flyte/run_name"].value
    assert flyte_devserver.client.get_run(run_name).phase.value == "ABORTED"


def test_wait_timeout_says_so_when_the_abort_failed(flyte_devserver, flyte):
    # Every AbortRun is refused: the step must not claim the run was aborted.
    flyte_devserver.admin.fail_next("AbortRun", "PERMISSION_DENIED", count=100)
    slow = build_flyte_asset(
        "dagster_tasks.slow", key="slow", inputs={"seconds": 60.0}, resource=flyte, run_options={"wait_timeout_s": 1.5}
    )
    result = dg.materialize([slow], resources={"flyte": flyte}, raise_on_error=False)
    [failure] = _failure_data(result)
    assert failure.metadata["dagster-flyte/error_kind"].value == "TIMEOUT"
    assert failure.metadata["dagster-flyte/aborted"].value is False
    assert "was aborted" not in failure.description
    assert "may still be running" in failure.description
    run_name = failure.metadata["dagster-flyte/run_name"].value
    flyte_devserver.admin.clear_faults()
    run = flyte_devserver.client.get_run(run_name)
    assert run.phase.value == "RUNNING"
    run.abort("test cleanup")


def test_failure_when_the_backend_is_unreachable_is_retryable():
    unreachable = FlyteResource(endpoint="127.0.0.1:9", insecure=True)

    @dg.asset
    def nowhere(context: AssetExecutionContext, flyte: FlyteResource) -> int:
        return flyte.run_task(context, "sample_tasks.add", {"x": 1, "y": 1}).value

    with pytest.raises(dg.Failure) as info:
        dg.materialize([nowhere], resources={"flyte": unreachable})
    assert info.value.allow_retries is True
    assert info.value.metadata["dagster-flyte/error_kind"].value == "TRANSPORT"


def test_retry_on_user_error_opts_in_to_retrying_user_errors(flyte_devserver, flyte):
    opted_in = FlyteResource(endpoint=flyte_devserver.endpoint, insecure=True, retry_on_user_error=True)
    broken = build_flyte_asset(
        "dagster_tasks.fail",
        key="broken",
        inputs={"message": "flaky data"},
        retry_policy=dg.RetryPolicy(max_retries=1),
        resource=opted_in,
    )
    result = dg.materialize([broken], resources={"flyte": opted_in}, raise_on_error=False)
    assert not result.success
    failures = _failure_data(result)
    assert failures[0].metadata["dagster-flyte/error_kind"].value == "USER"
    assert failures[0].metadata["dagster-flyte/retryable"].value is True
    assert sum(1 for e in result.all_events if e.event_type_value == "STEP_RESTARTED") == 1
    assert create_runs(flyte_devserver.admin) == 2  # the retry relaunched after the FAILED run


@pytest.mark.parametrize(
    "error",
    [
        "RunFailedError:SYSTEM",
        "RunFailedError:USER",
        "RunAbortedError",
        "RunTimedOutError",
        "UnavailableError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConfigurationError",
        "WaitTimeoutError",
        "RuntimeError",
    ],
)
def test_dagster_and_airflow_retry_the_same_outcomes(error):
    """The one rule: a Failure allows retries exactly when the core's classification (which the
    Airflow provider uses unchanged) says so. Unexpected client-side errors are no longer retried."""
    import flyte_remote_core as core
    from flyte_dagster._failures import failure_for
    from flyte_remote_core.orchestration import OutcomeKind, classify

    name, _, kind = error.partition(":")
    if name == "RuntimeError":
        exc: BaseException = RuntimeError("boom")
    elif name == "WaitTimeoutError":
        exc = core.WaitTimeoutError("r-1", 3.0)
        exc.aborted = True
    elif issubclass(getattr(core, name), core.RunError):
        exc = getattr(core, name)("r-1", phase="FAILED", message="boom", kind=kind or None)
    else:
        exc = getattr(core, name)("boom")
    outcome = classify(exc)
    failure = failure_for(outcome, "tasks.x")
    assert failure.allow_retries is outcome.retryable is outcome.kind.is_retryable()
    assert failure.metadata["dagster-flyte/outcome"].value == outcome.kind.value
    expected = {OutcomeKind.FAILED_SYSTEM, OutcomeKind.UNAVAILABLE, OutcomeKind.DEADLINE}
    assert failure.allow_retries is (outcome.kind in expected)
