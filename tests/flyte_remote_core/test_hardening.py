"""Bad input is refused before anything is sent, with an error naming it; shared resources survive
other clients closing."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from flyte_remote_core import (
    ConfigurationError,
    FlyteClient,
    InvalidInputError,
    InvalidRunNameError,
    InvalidRunOptionError,
    Phase,
    check_run_name,
    encode_api_key,
)
from tests.flyte_remote_core._watching import eventually, watcher_of

NETWORK_METHODS = ("GetTaskDetails", "ListTasks", "SelectCluster", "UploadInputs", "CreateRun", "GetRunDetails")


def _calls(admin) -> dict[str, int]:
    return {m: admin.call_count(m) for m in NETWORK_METHODS}


@pytest.mark.parametrize("name", ["ab\n", "\nab", "ab\r\n", "a b", "ab-", "Ab", "1ab", "a" * 31, ""])
def test_run_names_are_full_matches(name: str) -> None:
    with pytest.raises(InvalidRunNameError) as err:
        check_run_name(name)
    assert repr(name) in str(err.value)


def test_a_name_with_a_trailing_newline_never_reaches_the_backend(flyte_devserver) -> None:
    flyte_devserver.admin.reset_counters()
    with pytest.raises(InvalidRunNameError):
        flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 2}, name="ab\n")
    assert sum(_calls(flyte_devserver.admin).values()) == 0


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"labels": {"team": 1}}, "labels"),
        ({"labels": ["a"]}, "labels"),
        ({"annotations": {"": "x"}}, "annotations"),
        ({"envs": {"A": object()}}, "envs"),
        ({"queue": 3}, "queue"),
        ({"queue": "q\ud800"}, "queue"),
        ({"interruptible": "yes"}, "interruptible"),
        ({"overwrite_cache": 1}, "overwrite_cache"),
    ],
)
def test_bad_run_options_are_refused_before_any_call(flyte_devserver, options, option) -> None:
    flyte_devserver.admin.reset_counters()
    with pytest.raises(InvalidRunOptionError) as err:
        flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 2}, **options)
    assert err.value.option == option and repr(option) in str(err.value)
    assert sum(_calls(flyte_devserver.admin).values()) == 0


def test_numbers_in_envs_are_sent_as_text(flyte_devserver) -> None:
    run = flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 2}, envs={"N": 3}, labels={"team": "ml"})
    spec = run.details().pb2.run_spec
    assert [(kv.key, kv.value) for kv in spec.envs.values] == [("N", "3")]
    assert spec.labels.values["team"] == "ml"


@pytest.mark.parametrize("value", ["a\ud800", "\udfff"])
def test_a_lone_surrogate_names_the_input(flyte_devserver, value: str) -> None:
    flyte_devserver.admin.reset_counters()
    with pytest.raises(InvalidInputError) as err:
        flyte_devserver.client.run("sample_tasks.greet", {"name": value})
    assert err.value.input_name == "name" and "surrogate" in str(err.value)
    assert _calls(flyte_devserver.admin)["UploadInputs"] == 0


def test_an_api_key_gives_the_endpoint(flyte_devserver) -> None:
    key = encode_api_key(flyte_devserver.endpoint, "client", "secret", "")
    client = FlyteClient(api_key=key, insecure=True)
    try:
        assert client.config.endpoint == flyte_devserver.endpoint
        assert "secret" not in repr(client) and "secret" not in repr(client.config)
    finally:
        client.close()


def test_no_endpoint_and_no_key_says_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="endpoint is required"):
        FlyteClient()
    with pytest.raises(ConfigurationError, match="empty endpoint") as err:
        FlyteClient(api_key=encode_api_key("", "client", "hunter2-secret", ""))
    assert "hunter2" not in str(err.value)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_clients_closed_in_any_order_leave_no_wait_hanging(flyte_devserver, order) -> None:
    """Three clients of one endpoint share a channel and a watcher; each closes while others still wait."""
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    clients = [FlyteClient(flyte_devserver.endpoint, insecure=True) for _ in range(3)]
    try:
        runs = [c.run("sample_tasks.add", {"x": i, "y": 1}) for i, c in enumerate(clients)]

        async def main() -> list[Phase]:
            watcher = watcher_of(clients[0])
            waits = [asyncio.create_task(r.wait.aio(quiet=True, timeout=60)) for r in runs]
            await eventually(
                lambda: sum(len(g) for s in watcher._streams.values() for g in s.waiters.values()) == 3,
                what="all three waits registered",
            )
            phases = [Phase.UNSPECIFIED] * 3
            for i in order:  # close one client, then release and finish the others one by one
                await clients[i].aclose()
                admin.release(runs[i].name)
            for i, wait in enumerate(waits):
                phases[i] = (await asyncio.wait_for(wait, 30)).phase
            return phases

        assert asyncio.run(main()) == [Phase.SUCCEEDED] * 3
    finally:
        admin.release_all()
        for c in clients:
            c.close()
