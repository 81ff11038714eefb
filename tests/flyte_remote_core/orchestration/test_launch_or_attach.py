"""The idempotent launch both integrations rely on, against both duplicate-name behaviours."""

from __future__ import annotations

import pytest

from flyte_remote_core import FlyteClient, InvalidInputError, Phase

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["return-existing", "already-exists"])
def server(request, tmp_path):
    from flyte_remote_core.devserver import DevServer

    with DevServer(
        tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path, duplicate_run_names=request.param
    ) as srv:
        yield srv


def test_first_attempt_launches_and_a_retry_attaches_while_active(server) -> None:
    client: FlyteClient = server.client()
    try:
        server.admin.hold(all_new_runs=True)
        first = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 2}, key="dag/t/run1/-1", attempt=1)
        assert first.action == "launched"
        assert first.run.name.startswith("r-") and first.run.name.endswith("-1")
        # The worker "crashes"; the orchestrator's next try comes with attempt 2.
        second = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 2}, key="dag/t/run1/-1", attempt=2)
        assert second.action == "attached"
        assert second.run.name == first.run.name
        assert server.admin.call_count("CreateRun") == 1
        server.admin.release_all()
        assert second.run.wait(quiet=True).outputs().named == {"o0": 3}
        # A third try after success reuses the result without launching.
        third = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 2}, key="dag/t/run1/-1", attempt=3)
        assert third.action == "reused" and third.run.name == first.run.name
        assert server.admin.call_count("CreateRun") == 1
    finally:
        server.admin.release_all()
        client.close()


def test_same_attempt_twice_attaches(server) -> None:
    client = server.client()
    try:
        server.admin.hold(all_new_runs=True)
        a = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 1}, key="k-same", attempt=1)
        b = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 1}, key="k-same", attempt=1)
        assert (a.action, b.action) == ("launched", "attached")
        assert server.admin.call_count("CreateRun") == 1
    finally:
        server.admin.release_all()
        client.close()


def test_failed_attempt_is_relaunched_under_a_new_name(server) -> None:
    client = server.client()
    try:
        first = client.launch_or_attach("sample_tasks.fail_user", {}, key="k-fail", attempt=1)
        first.run.wait(quiet=True)
        assert first.run.phase is Phase.FAILED
        second = client.launch_or_attach("sample_tasks.fail_user", {}, key="k-fail", attempt=2)
        assert second.action == "launched"
        assert second.run.name != first.run.name
        # Same attempt again after its run failed: a fresh name, never the failure.
        second.run.wait(quiet=True)
        third = client.launch_or_attach("sample_tasks.fail_user", {}, key="k-fail", attempt=2)
        assert third.action == "launched" and third.run.name not in (first.run.name, second.run.name)
    finally:
        client.close()


def test_bad_inputs_never_launch(server) -> None:
    client = server.client()
    try:
        with pytest.raises(InvalidInputError):
            client.launch_or_attach("sample_tasks.add", {"x": "nope", "y": 1}, key="k-bad", attempt=1)
        assert server.admin.call_count("CreateRun") == 0
    finally:
        client.close()


def test_racing_named_launches_get_one_run_and_typed_outcomes(server) -> None:
    """Both duplicate behaviours: ALREADY_EXISTS, or the existing run silently returned."""
    import asyncio

    from flyte_remote_core import RunAlreadyExistsError

    client = server.client()
    try:
        server.admin.hold(all_new_runs=True)

        async def race() -> list[object]:
            return await asyncio.gather(
                *(client.run.aio("sample_tasks.add", {"x": i, "y": 0}, name="race-1") for i in range(4)),
                return_exceptions=True,
            )

        results = asyncio.run(race())
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, RunAlreadyExistsError)]
        assert len(winners) == 1 and len(losers) == 3, results
        assert all(err.run.name == "race-1" for err in losers)
        server.admin.release_all()
        # The run computed the winner's inputs, not a loser's.
        won = winners[0]
        x = dict(won.inputs())["x"]
        assert won.wait(quiet=True).outputs()[0] == x
    finally:
        server.admin.release_all()
        client.close()


def test_racing_launch_or_attach_launches_once(server) -> None:
    import asyncio

    client = server.client()
    try:
        server.admin.hold(all_new_runs=True)

        async def race() -> list[str]:
            outcomes = await asyncio.gather(
                *(
                    client.launch_or_attach.aio("sample_tasks.add", {"x": 1, "y": 1}, key="k-race", attempt=1)
                    for _ in range(4)
                )
            )
            assert len({o.run.name for o in outcomes}) == 1
            return sorted(o.action for o in outcomes)

        assert asyncio.run(race()) == ["attached", "attached", "attached", "launched"]
    finally:
        server.admin.release_all()
        client.close()


def test_new_inputs_under_the_same_key_never_reuse_an_old_run(server) -> None:
    """A cleared and re-run step with other inputs must not get the old run's outputs."""
    client = server.client()
    try:
        first = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 1}, key="dag/t/run9/-1", attempt=1)
        assert first.run.wait(quiet=True).outputs()[0] == 2
        again = client.launch_or_attach("sample_tasks.add", {"x": 50, "y": 50}, key="dag/t/run9/-1", attempt=2)
        assert again.action == "launched" and again.run.name != first.run.name
        assert again.run.wait(quiet=True).outputs()[0] == 100
        same = client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 1}, key="dag/t/run9/-1", attempt=3)
        assert same.action == "reused" and same.run.name == first.run.name
    finally:
        client.close()


def test_explicit_names_get_attempt_suffixes(server) -> None:
    client = server.client()
    try:
        first = client.launch_or_attach("sample_tasks.crash", {}, name="my-run", attempt=1)
        assert first.run.name == "my-run"
        first.run.wait(quiet=True)
        assert first.run.phase is Phase.FAILED
        second = client.launch_or_attach("sample_tasks.crash", {}, name="my-run", attempt=2)
        assert second.action == "launched" and second.run.name == "my-run-2"
    finally:
        client.close()


def test_a_key_or_a_name_is_required(server) -> None:
    from flyte_remote_core import ConfigurationError

    client = server.client()
    try:
        with pytest.raises(ConfigurationError, match="key"):
            client.launch_or_attach("sample_tasks.add", {"x": 1, "y": 1})
    finally:
        client.close()


def test_a_long_explicit_name_still_fits_on_retries(server) -> None:
    client = server.client()
    try:
        long_name = "a" * 29 + "z"  # 30 characters: valid for attempt 1
        first = client.launch_or_attach("sample_tasks.crash", {}, name=long_name, attempt=1)
        assert first.run.name == long_name
        first.run.wait(quiet=True)
        second = client.launch_or_attach("sample_tasks.crash", {}, name=long_name, attempt=2)
        assert second.run.name == "a" * 28 + "-2"
    finally:
        client.close()
