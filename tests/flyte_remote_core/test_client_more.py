"""More of the client against the devserver over real gRPC: actions, the seed API with a
default client, triggers, live logs, cancelled waits, ``from_env`` and devserver start-up."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import grpc
import pytest

import flyte_remote_core
from flyte_remote_core import (
    Action,
    ActionDetails,
    ConfigurationError,
    FlyteClient,
    Phase,
    Run,
    RunAbortedError,
    Task,
    WaitTimeoutError,
)
from flyte_remote_core import (
    _default_client as _default,
)
from tests.flyte_remote_core._watching import eventually, lingers_then_stops, watcher_of

pytestmark = pytest.mark.timeout(60)


def _assert_monotonic(phases: list[Phase]) -> None:
    ranks = [p.raw for p in phases]
    assert ranks == sorted(ranks), phases


# -- 1. actions ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_action_watch_sync_streams_until_terminal_and_updates_the_action(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.sleepy", {"seconds": 0.3})
    action = run.action
    assert isinstance(action, Action) and action.name == "a0" and action.run_name == run.name
    seen = list(action.watch())
    assert seen and all(isinstance(d, ActionDetails) for d in seen)
    phases = [d.phase for d in seen]
    assert phases[-1] is Phase.SUCCEEDED
    assert Phase.RUNNING in phases
    _assert_monotonic(phases)
    # The stream ended by itself at the terminal phase, and the action object followed it.
    assert action.phase is Phase.SUCCEEDED and action.done()
    assert all(d.run_name == run.name and d.name == "a0" for d in seen)


@pytest.mark.timeout(30)
def test_action_watch_aio_and_wait_for_running_stops_early(flyte_devserver) -> None:
    client = flyte_devserver.client
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    try:
        held = client.run("sample_tasks.add", {"x": 1, "y": 1})

        async def until_running() -> list[Phase]:
            return [d.phase async for d in held.action.watch.aio(wait_for="running")]

        phases = asyncio.run(asyncio.wait_for(until_running(), 15))
        assert phases[-1] is Phase.RUNNING, phases
        assert not any(p.is_terminal for p in phases)
    finally:
        admin.release_all()

    async def to_the_end() -> list[Phase]:
        return [d.phase async for d in held.action.watch.aio()]

    phases = asyncio.run(asyncio.wait_for(to_the_end(), 15))
    assert phases[-1] is Phase.SUCCEEDED
    _assert_monotonic(phases)


@pytest.mark.timeout(30)
def test_action_watch_cache_data_on_done_fetches_outputs_once(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 20, "y": 22})
    last = list(run.action.watch(cache_data_on_done=True))[-1]
    flyte_devserver.admin.reset_counters()
    assert last.outputs().named == {"o0": 42}
    assert flyte_devserver.admin.call_count("GetActionData") == 0  # cached while watching


@pytest.mark.timeout(30)
def test_action_details_watch_updates_sync_and_aio(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.sleepy", {"seconds": 0.3})
    details = run.action.details()
    assert isinstance(details, ActionDetails)
    assert details.task_name == "sample_tasks.sleepy" and details.run_name == run.name
    updates = list(details.watch_updates(cache_data_on_done=True))
    assert updates[-1].phase is Phase.SUCCEEDED
    _assert_monotonic([u.phase for u in updates])
    assert details.phase is Phase.SUCCEEDED  # the watched object itself follows the stream
    flyte_devserver.admin.reset_counters()
    assert updates[-1].outputs().named == {"o0": 0.3}
    assert flyte_devserver.admin.call_count("GetActionData") == 0

    # .aio on a run that is already over: one message, the terminal one, then the end.
    async def again() -> list[Phase]:
        return [u.phase async for u in details.watch_updates.aio()]

    assert asyncio.run(asyncio.wait_for(again(), 10)) == [Phase.SUCCEEDED]


@pytest.mark.timeout(30)
def test_action_details_sync_and_wait(flyte_devserver) -> None:
    client = flyte_devserver.client
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    try:
        run = client.run("sample_tasks.add", {"x": 2, "y": 3})
        action = run.action
        details = action.wait(quiet=True, wait_for="running")
        assert isinstance(details, ActionDetails) and details.phase is Phase.RUNNING
        with pytest.raises(WaitTimeoutError):
            action.wait(quiet=True, timeout=0.3)
    finally:
        admin.release_all()
    details = action.wait(quiet=True)
    assert details.phase is Phase.SUCCEEDED
    assert details.outputs().named == {"o0": 5}
    assert dict(details.inputs()) == {"x": 2, "y": 3}

    # sync() re-reads the state of an Action object that went stale.
    other = client.run("sample_tasks.add", {"x": 1, "y": 1})
    snapshot = type(other.pb2.action)()
    snapshot.CopyFrom(other.pb2.action)  # a copy, not the run's own message
    stale = Action(snapshot, services=client.services)
    assert not stale.done()
    other.wait(quiet=True)
    assert not stale.done()  # nothing updated it behind our back
    assert stale.sync() is stale
    assert stale.phase is Phase.SUCCEEDED and stale.done()
    assert stale.details().phase is Phase.SUCCEEDED


@pytest.mark.timeout(30)
def test_action_abort_of_the_root_action_aborts_a_hanging_run(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.hang")
    run.wait(quiet=True, wait_for="running")
    run.action.abort("stop it from the action")
    details = run.action.wait(quiet=True, timeout=15)
    assert details.phase is Phase.ABORTED
    assert run.sync().phase is Phase.ABORTED
    with pytest.raises(RunAbortedError) as err:
        run.outputs()
    assert "stop it from the action" in str(err.value)


# -- 2. the seed API with explicit and default clients --------------------------------


@pytest.fixture
def no_default_client():
    previous = _default._default
    _default._default = None
    try:
        yield
    finally:
        current = _default._default
        if current is not None and current is not previous:
            current.close()
        _default._default = previous


def test_task_run_classmethods_with_an_explicit_client(flyte_devserver) -> None:
    client = flyte_devserver.client
    task = Task.get("sample_tasks.add", client=client)
    assert task.name == "sample_tasks.add" and task.version
    run = client.run(task, {"x": 4, "y": 5})
    got = Run.get(run.name, client=client)
    assert got.name == run.name and got.task_name == "sample_tasks.add"
    assert run.name in [r.name for r in Run.listall(client=client)]
    assert got.wait(quiet=True).outputs().named == {"o0": 9}


def test_without_init_the_seed_api_names_init(no_default_client, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    for call in (
        lambda: Task.get("sample_tasks.add"),
        lambda: Run.get("r1"),
        lambda: Run.listall(),
        lambda: flyte_remote_core.upload_file(f),
        lambda: flyte_remote_core.upload_dir(tmp_path),
    ):
        with pytest.raises(ConfigurationError, match=r"init\("):
            call()


def test_init_sets_the_default_client(flyte_devserver, no_default_client, tmp_path: Path) -> None:
    client = flyte_remote_core.init(flyte_devserver.endpoint, insecure=True)
    assert isinstance(client, FlyteClient) and _default._default is client
    task = Task.get("sample_tasks.greet")
    run = client.run(task, {"name": "default"})
    assert Run.get(run.name).name == run.name
    assert run.name in [r.name for r in Run.listall()]
    assert run.wait(quiet=True).outputs().named == {"o0": "Hello, default!"}

    src = tmp_path / "one.bin"
    src.write_bytes(b"\x00\x01payload")
    md5, uri = flyte_remote_core.upload_file(src)
    assert md5 == hashlib.md5(b"\x00\x01payload").hexdigest()
    assert Path(uri.removeprefix("file://")).read_bytes() == b"\x00\x01payload"

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "top.txt").write_text("top")
    (tree / "sub" / "deep.txt").write_text("deep")
    root = Path(flyte_remote_core.upload_dir(tree).removeprefix("file://"))
    assert (root / "top.txt").read_text() == "top" and (root / "sub" / "deep.txt").read_text() == "deep"

    # A second init replaces (and closes) the first default.
    second = flyte_remote_core.init(flyte_devserver.endpoint, insecure=True, project="flytesnacks")
    assert _default._default is second and second is not client
    assert Run.get(run.name).name == run.name


# -- 3. triggers -------------------------------------------------------------------------


def _deploy_trigger(endpoint: str, name: str, task_name: str, version: str) -> None:
    from flyteidl2.common import identifier_pb2
    from flyteidl2.task import common_pb2 as tc
    from flyteidl2.trigger import trigger_definition_pb2 as tdef
    from flyteidl2.trigger import trigger_service_pb2 as tsvc
    from flyteidl2.trigger import trigger_service_pb2_grpc

    from tests.devserver.helpers import inputs

    tname = identifier_pb2.TriggerName(project="flytesnacks", domain="development", name=name, task_name=task_name)
    auto = tc.TriggerAutomationSpec(
        type=tc.TYPE_SCHEDULE, schedule=tc.Schedule(rate=tc.FixedRate(value=1, unit=tc.FIXED_RATE_UNIT_DAY))
    )
    spec = tdef.TriggerSpec(active=True, task_version=version, inputs=inputs(x=20, y=22))
    with grpc.insecure_channel(endpoint) as channel:
        trigger_service_pb2_grpc.TriggerServiceStub(channel).DeployTrigger(
            tsvc.DeployTriggerRequest(name=tname, spec=spec, automation_spec=auto), timeout=10
        )


def test_triggers_through_the_client(flyte_devserver) -> None:
    client = flyte_devserver.client
    version = client.get_task("sample_tasks.add").version
    _deploy_trigger(flyte_devserver.endpoint, "daily-add", "sample_tasks.add", version)

    listed = client.list_triggers()
    assert [(t.name, t.task_name, t.is_active) for t in listed] == [("daily-add", "sample_tasks.add", True)]
    assert [t.name for t in client.list_triggers(task_name="sample_tasks.add")] == ["daily-add"]
    assert client.list_triggers(task_name="sample_tasks.greet") == []

    trigger = client.get_trigger("daily-add", task_name="sample_tasks.add")
    assert trigger.name == "daily-add" and trigger.task_name == "sample_tasks.add" and trigger.is_active
    assert trigger.automation_spec.schedule.rate.value == 1
    details = trigger.get_details()
    assert details.spec.task_version == version
    assert details.automation_spec.schedule.rate.value == 1
    details_aio = asyncio.run(trigger.get_details.aio())
    assert details_aio.id.name.name == "daily-add" and details_aio.spec.task_version == version

    listed[0].deactivate()
    assert listed[0].is_active is False
    assert client.get_trigger("daily-add", task_name="sample_tasks.add").is_active is False
    assert [t.is_active for t in client.list_triggers()] == [False]
    listed[0].activate()
    assert client.get_trigger("daily-add", task_name="sample_tasks.add").is_active is True
    assert "daily-add" in repr(listed[0]) and listed[0].to_dict()["id"]["name"]["name"] == "daily-add"


def test_unknown_trigger_is_not_found(flyte_devserver) -> None:
    from flyte_remote_core import NotFoundError

    with pytest.raises(NotFoundError) as err:
        flyte_devserver.client.get_trigger("nope", task_name="sample_tasks.add")
    assert "nope" in str(err.value)


# -- 4. live logs ------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_logs_follow_yields_lines_while_the_run_is_running_and_ends_with_it(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.chatty", {"lines": 6, "pause": 0.4})
    run.wait(quiet=True, wait_for="running")
    stamps: list[tuple[float, str]] = []
    t0 = time.monotonic()
    for line in run.logs(follow=True):
        stamps.append((time.monotonic(), line))
    iter_end = time.monotonic()
    details = run.details()
    assert details.phase is Phase.SUCCEEDED
    # The iterator ended by itself, soon after the run did (not after a long timeout).
    assert iter_end - t0 < 20
    stdout = [line for _, line in stamps if "stdout line" in line]
    assert len(stdout) == 6, [line for _, line in stamps]
    # The run's end, as the backend recorded it, in this process's monotonic clock.
    end_wall = (
        details.pb2.action.status.end_time.ToDatetime().timestamp()
        if details.pb2.action.status.HasField("end_time")
        else None
    )
    first_line_at = next(t for t, line in stamps if "stdout line 0" in line)
    last_line_at = stamps[-1][0]
    # Lines arrived live: the first one more than a second before the last (6 x 0.4 s of pauses).
    assert last_line_at - first_line_at > 1.0, (first_line_at, last_line_at)
    if end_wall is not None:
        first_wall = time.time() - (time.monotonic() - first_line_at)
        assert first_wall < end_wall - 0.5, (first_wall, end_wall)


def test_logs_without_follow_return_what_is_there(flyte_devserver) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.chatty", {"lines": 2})
    run.wait(quiet=True)
    lines = list(run.logs(follow=False))
    assert any("stdout line 1" in line for line in lines), lines


# -- 5. cancelled waits leave nothing behind -------------------------------------------


@pytest.mark.timeout(30)
def test_wait_cancelled_by_wait_for_leaves_no_task_and_no_stream(flyte_devserver) -> None:
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    try:
        client = flyte_devserver.client
        run = client.run("sample_tasks.add", {"x": 1, "y": 1})

        async def main() -> None:
            watcher = watcher_of(client)
            watcher.linger = 0.3
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(run.wait.aio(quiet=True), 0.2)
            await lingers_then_stops(watcher)
            # Once more after the stream was up for a while (the first try may cancel mid-connect).
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(run.wait.aio(quiet=True), 1.0)
            await lingers_then_stops(watcher)

        asyncio.run(main())
    finally:
        admin.release_all()


@pytest.mark.timeout(30)
def test_wait_cancelled_by_task_cancel_leaves_no_task_and_no_stream(flyte_devserver) -> None:
    admin = flyte_devserver.admin
    admin.hold(all_new_runs=True)
    try:
        client = flyte_devserver.client
        runs = [client.run("sample_tasks.add", {"x": i, "y": 1}) for i in range(3)]

        async def main() -> None:
            watcher = watcher_of(client)
            watcher.linger = 0.3
            tasks = [asyncio.create_task(r.wait.aio(quiet=True)) for r in runs]
            await eventually(
                lambda: (
                    sum(len(g) for s in watcher._streams.values() for g in s.waiters.values()) == 3
                    and all(s.connected.is_set() for s in watcher._streams.values())
                ),
                what="every waiter registered on a connected stream",
            )
            assert watcher.open_streams == 1
            assert not any(t.done() for t in tasks)
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results), results
            await lingers_then_stops(watcher)

        asyncio.run(main())
    finally:
        admin.release_all()
    # The runs went on: cancelling a local wait never touches them.
    assert [r.wait(quiet=True).phase for r in runs] == [Phase.SUCCEEDED] * 3


@pytest.mark.timeout(30)
def test_one_cancelled_waiter_does_not_disturb_another(flyte_devserver) -> None:
    admin = flyte_devserver.admin
    client = flyte_devserver.client
    admin.hold(all_new_runs=True)
    a = client.run("sample_tasks.add", {"x": 1, "y": 1})
    b = client.run("sample_tasks.add", {"x": 2, "y": 2})

    async def main() -> Phase:
        watcher = watcher_of(client)
        watcher.linger = 0.3
        wa = asyncio.create_task(a.wait.aio(quiet=True))
        wb = asyncio.create_task(b.wait.aio(quiet=True))
        await eventually(
            lambda: sum(len(g) for s in watcher._streams.values() for g in s.waiters.values()) == 2,
            what="both waiters registered",
        )
        wa.cancel()
        await asyncio.gather(wa, return_exceptions=True)
        assert watcher.open_streams == 1  # b still waits on it
        admin.release(b.name)
        done = await asyncio.wait_for(wb, 15)
        await lingers_then_stops(watcher)
        return done.phase

    try:
        assert asyncio.run(main()) is Phase.SUCCEEDED
    finally:
        admin.release_all()


# -- 9. from_env -------------------------------------------------------------------------


def _clear_flyte_env(monkeypatch) -> None:
    import os

    for var in list(os.environ):
        if var.startswith("FLYTE_"):
            monkeypatch.delenv(var)


def test_from_env_insecure_true_talks_plaintext(flyte_devserver, monkeypatch) -> None:
    _clear_flyte_env(monkeypatch)
    monkeypatch.setenv("FLYTE_ENDPOINT", flyte_devserver.endpoint)
    monkeypatch.setenv("FLYTE_INSECURE", "true")
    client = FlyteClient.from_env()
    try:
        assert client.config.insecure is True
        assert client.run("sample_tasks.add", {"x": 1, "y": 2}).wait(quiet=True).outputs()[0] == 3
    finally:
        client.close()


def test_from_env_insecure_false_means_tls(monkeypatch) -> None:
    _clear_flyte_env(monkeypatch)
    monkeypatch.setenv("FLYTE_ENDPOINT", "flyte.example.com")
    monkeypatch.setenv("FLYTE_INSECURE", "false")
    client = FlyteClient.from_env()
    try:
        assert client.config.insecure is False
        assert client.run_url("r1").startswith("https://flyte.example.com/")
    finally:
        client.close()


def test_from_env_ca_cert_is_read(monkeypatch, tmp_path: Path) -> None:
    _clear_flyte_env(monkeypatch)
    monkeypatch.setenv("FLYTE_ENDPOINT", "dns:///flyte.example.com:443")
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("FLYTE_CA_CERT", str(missing))
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        FlyteClient.from_env()
    not_pem = tmp_path / "junk.pem"
    not_pem.write_text("not a certificate")
    monkeypatch.setenv("FLYTE_CA_CERT", str(not_pem))
    with pytest.raises(ConfigurationError, match="PEM"):
        FlyteClient.from_env()


# -- 10. start-up time --------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_devserver_with_sample_tasks_starts_within_half_a_second(tmp_path: Path) -> None:
    from flyte_remote_core.devserver import DevServer

    figures = []
    for i in range(3):
        server = DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path / f"d{i}")
        t0 = time.perf_counter()
        server.start()
        outside = time.perf_counter() - t0
        try:
            assert server.running and server.startup_seconds is not None
            assert server.startup_seconds <= outside
            figures.append((server.startup_seconds, outside))
        finally:
            server.stop()
    print(
        "devserver start-up (startup_seconds, measured around start()):",
        ", ".join(f"({a:.3f} s, {b:.3f} s)" for a, b in figures),
    )
    best = min(b for _, b in figures)
    assert best <= 0.5, figures


@pytest.mark.timeout(60)
def test_fixture_server_started_within_half_a_second(flyte_devserver) -> None:
    secs = flyte_devserver.server.startup_seconds
    print(f"flyte_devserver fixture start-up: {secs:.3f} s")
    assert secs is not None and secs <= 1.5  # loose: single sample on a shared machine; the strict figure is above
    assert flyte_devserver.client.get_task("sample_tasks.add").name == "sample_tasks.add"
