"""The hook, trigger, link and operator pieces on their own, against the devserver."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest

from flyte_airflow.hooks.flyte import FlyteHook, client_kwargs_from_connection
from flyte_airflow.operators.flyte import FlyteRunOperator
from flyte_airflow.triggers.flyte import FlyteRunTrigger
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(90)


class FakeTI:
    def __init__(self, try_number: int = 1) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", "t", "manual__1", -1
        self.try_number = try_number
        self.stats_tags: dict[str, str] = {}
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcoms[key] = value


# -- trigger ------------------------------------------------------------------------------------


def test_trigger_serialize_round_trips_every_argument():
    trigger = FlyteRunTrigger(
        run_name="af-abc-1",
        flyte_conn_id="other",
        project="p",
        domain="staging",
        deadline=1234.5,
        wait_for="running",
        fetch_outputs=False,
        abort_on_deadline=False,
        cancel_on_kill=False,
        not_before=1230.0,
    )
    classpath, kwargs = trigger.serialize()
    params = set(inspect.signature(FlyteRunTrigger.__init__).parameters) - {"self"}
    assert set(kwargs) == params, "serialize() must carry every constructor argument"
    from airflow.sdk._shared.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "run_name": "af-abc-1",
        "flyte_conn_id": "other",
        "project": "p",
        "domain": "staging",
        "deadline": 1234.5,
        "wait_for": "running",
        "fetch_outputs": False,
        "abort_on_deadline": False,
        "cancel_on_kill": False,
        "not_before": 1230.0,
    }
    # and through Airflow's own serde, as the triggerer stores it
    from airflow.sdk.serde import deserialize, serialize

    assert deserialize(serialize(kwargs)) == kwargs


async def test_trigger_fires_success_event_with_outputs(flyte_conn):
    run = await flyte_conn.client.run.aio("sample_tasks.add", {"x": 20, "y": 22}, name="trig-ok")
    events = [e async for e in FlyteRunTrigger(run_name=run.name).run()]
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success" and payload["outputs"] == {"o0": 42}
    assert payload["run_name"] == "trig-ok" and "trig-ok" in payload["run_url"]


async def test_trigger_deadline_aborts(flyte_conn):
    run = await flyte_conn.client.run.aio("sample_tasks.hang", {}, name="trig-deadline")
    started = time.monotonic()
    events = [e async for e in FlyteRunTrigger(run_name=run.name, deadline=time.time() + 1.5).run()]
    assert time.monotonic() - started < 15
    assert events[0].payload["status"] == "deadline"
    assert "the run was aborted" in events[0].payload["message"]
    assert (await flyte_conn.client.get_run.aio("trig-deadline")).phase.value == "ABORTED"


async def test_trigger_on_kill_aborts_run(flyte_conn):
    run = await flyte_conn.client.run.aio("sample_tasks.hang", {}, name="trig-kill")
    trigger = FlyteRunTrigger(run_name=run.name)
    waiting = asyncio.ensure_future(trigger.run().__anext__())
    await asyncio.sleep(1.0)
    assert not waiting.done()
    await trigger.on_kill()
    event = await asyncio.wait_for(waiting, 15)  # the watch sees the abort and fires
    assert event.payload["phase"] == "ABORTED"
    assert (await flyte_conn.client.get_run.aio("trig-kill")).phase.value == "ABORTED"


async def test_trigger_on_kill_respects_cancel_on_kill_false(flyte_conn):
    flyte_conn.admin.hold(all_new_runs=True)
    run = await flyte_conn.client.run.aio("sample_tasks.add", {"x": 1, "y": 1}, name="trig-keep")
    await FlyteRunTrigger(run_name=run.name, cancel_on_kill=False).on_kill()
    assert not (await flyte_conn.client.get_run.aio("trig-keep")).done()
    flyte_conn.admin.release()


@pytest.mark.flyte_devserver_options(max_concurrent_streams=8)
async def test_many_deferred_triggers_share_streams(flyte_conn):
    """More deferred tasks than the server's stream limit, in one triggerer loop, all finish promptly."""
    count = 40
    client = flyte_conn.client
    names = [f"many-{i}" for i in range(count)]
    flyte_conn.admin.hold(all_new_runs=True)
    for i, name in enumerate(names):
        await client.run.aio("sample_tasks.add", {"x": i, "y": 1}, name=name)

    async def one(name):
        events = [
            e async for e in FlyteRunTrigger(run_name=name, deadline=time.time() + 120).run()
        ]  # to its end: the trigger closes what it opened
        return events[0].payload

    waits = asyncio.gather(*(one(n) for n in names))
    await asyncio.sleep(1.5)  # every trigger is now waiting on a held run
    status = flyte_conn.admin.status()
    assert status["open_streams"] <= 4, status  # shared: one WatchRuns stream, not one per run
    started = time.monotonic()
    flyte_conn.admin.release()
    payloads = await asyncio.wait_for(waits, 60)
    elapsed = time.monotonic() - started
    assert [p["outputs"]["o0"] for p in payloads] == [i + 1 for i in range(count)]
    assert all(p["status"] == "success" for p in payloads)
    assert elapsed < 30, f"{count} deferred runs took {elapsed:.1f}s after release"


# -- operator pieces ----------------------------------------------------------------------------


def test_on_kill_aborts_remote_run(flyte_conn):
    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.hang", stream_logs=False)
    ti = FakeTI()
    outcome: dict[str, BaseException | object] = {}

    def run():
        try:
            outcome["result"] = op.execute({"ti": ti})
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    run_name = wait_until(lambda: ti.xcoms.get("run_name"), "the run name in XCom", timeout=20.0)
    time.sleep(0.5)
    assert not flyte_conn.client.get_run(run_name).done()
    op.on_kill()
    worker.join(20)
    assert not worker.is_alive()
    assert flyte_conn.client.get_run(run_name).phase.value == "ABORTED"
    from airflow.sdk.exceptions import AirflowFailException

    assert isinstance(outcome.get("error"), AirflowFailException), outcome
    assert "ABORTED" in str(outcome["error"])


def test_invalid_input_message_names_the_input(flyte_conn):
    from airflow.sdk.exceptions import AirflowFailException

    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.add", inputs={"x": 1, "y": "seven"})
    with pytest.raises(AirflowFailException, match=r"'y'.*nothing was launched"):
        op.execute({"ti": FakeTI()})
    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.add", inputs={"x": 1})
    with pytest.raises(AirflowFailException, match=r"'y'"):
        op.execute({"ti": FakeTI()})
    assert flyte_conn.admin.call_count("CreateRun") == 0


def test_sync_mode_streams_remote_logs_into_task_log(flyte_conn):
    from structlog.testing import capture_logs

    with capture_logs() as entries:
        op = FlyteRunOperator(task_id="t", task_name="sample_tasks.chatty", inputs={"lines": 3, "pause": 0.2})
        result = op.execute({"ti": FakeTI()})
    assert result == {"o0": 3}
    text = repr(entries)
    assert "stdout line 2" in text, text[-2000:]


def test_explicit_run_name_attaches_then_relaunches_after_failure(flyte_conn):
    op = FlyteRunOperator(task_id="t", task_name="sample_tasks.fail_user", run_name="my-run", retries=2)
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException):
        op.execute({"ti": FakeTI()})
    op2 = FlyteRunOperator(task_id="t", task_name="sample_tasks.add", inputs={"x": 1, "y": 1}, run_name="my-run")
    ti = FakeTI(try_number=2)
    assert op2.execute({"ti": ti}) == {"o0": 2}
    assert ti.xcoms["run_name"] == "my-run-2"


def test_template_fields():
    assert {"task_name", "inputs", "version", "project", "domain", "run_name"} <= set(FlyteRunOperator.template_fields)


# -- hook -------------------------------------------------------------------------------------------


class _Conn:
    def __init__(self, host="", port=None, password=None, login=None, schema=None, extra=None):
        self.host, self.port, self.password, self.login, self.schema = host, port, password, login, schema
        self.extra_dejson = extra or {}


def test_client_kwargs_from_connection():
    kwargs = client_kwargs_from_connection(
        _Conn(
            host="flyte.example.com",
            port=443,
            password="KEY",
            extra={
                "project": "p",
                "domain": "d",
                "insecure": "false",
                "extra__flyte__org": "acme",
                "ca_cert_file_path": "/ca.pem",
            },
        )
    )
    assert kwargs == {
        "endpoint": "flyte.example.com:443",
        "api_key": "KEY",
        "project": "p",
        "domain": "d",
        "insecure": False,
        "org": "acme",
        "ca_cert_file_path": "/ca.pem",
    }
    assert (
        client_kwargs_from_connection(_Conn(host="dns:///h:8090", extra={"insecure": True}))["endpoint"]
        == "dns:///h:8090"
    )
    assert client_kwargs_from_connection(_Conn(host="h", login="cid", extra={"client_secret": "s"})) == {
        "endpoint": "h",
        "client_id": "cid",
        "client_secret": "s",
    }


def test_hook_test_connection(flyte_conn, monkeypatch):
    ok, message = FlyteHook().test_connection()
    assert ok, message
    assert "flytesnacks" in message
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLYTE_BAD",
        '{"conn_type": "flyte", "host": "127.0.0.1:1", "extra": {"insecure": true, "rpc_timeout": 2}}',
    )
    ok, message = FlyteHook("flyte_bad").test_connection()
    assert not ok and "flyte_bad" in message and "UNAVAILABLE" in message
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_EMPTY", '{"conn_type": "flyte"}')
    ok, message = FlyteHook("flyte_empty").test_connection()
    assert not ok and "endpoint" in message


async def test_hook_async_client(flyte_conn):
    client = await FlyteHook().aget_conn()
    try:
        task = await client.get_task.aio("sample_tasks.add")
        assert [i.name for i in task.inputs] == ["x", "y"]
    finally:
        await client.aclose()


def test_provider_info_is_valid():
    import json
    from pathlib import Path

    import airflow
    import jsonschema

    from flyte_airflow.get_provider_info import get_provider_info

    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    conn = info["connection-types"][0]
    assert conn["connection-type"] == "flyte"
    assert conn["conn-fields"]["client_secret"]["schema"]["format"] == "password"
    from airflow.sdk._shared.module_loading import import_string

    for item in info["extra-links"] + [conn["hook-class-name"]]:
        import_string(item)
    for group in ("hooks", "operators", "sensors", "triggers"):
        for module in info[group][0]["python-modules"]:
            __import__(module)


def test_boolean_extras_accept_json_spellings_only():
    from flyte_remote_core import ConfigurationError

    for raw, expected in ((True, True), ("true", True), ("False", False), ("0", False), (1, True)):
        assert client_kwargs_from_connection(_Conn(host="h", extra={"insecure": raw}))["insecure"] is expected
    with pytest.raises(ConfigurationError, match="insecure"):
        client_kwargs_from_connection(_Conn(host="h", extra={"insecure": "maybe"}))


# -- failure classification: the core's classify() decides, the event maps it onto Airflow ----------


class _FakeRun:
    name, project, domain, url = "r-1", "p", "d", "http://console/r-1"

    class phase:
        value, is_success, is_terminal = "FAILED", False, True


def _error(spec: str) -> BaseException:
    import flyte_remote_core as core
    from flyte_remote_core.orchestration import OutputTypeError

    name, _, kind = spec.partition(":")
    if name == "RuntimeError":
        return RuntimeError("boom")
    if name == "OutputTypeError":
        return OutputTypeError("r-1", TypeError("boom"))
    if name == "WaitTimeoutError":
        exc = core.WaitTimeoutError("r-1", 3.0, phase="RUNNING")
        exc.aborted = True
        return exc
    cls = getattr(core, name)
    if issubclass(cls, core.RunError):
        phase = {"RunTimedOutError": "TIMED_OUT", "RunAbortedError": "ABORTED"}.get(name, "FAILED")
        return cls("r-1", phase=phase, message="boom", kind=None if kind == "None" else kind)
    if cls is core.InvalidInputError:
        return cls("boom", expected="int", given="str")
    return cls("boom")


@pytest.mark.parametrize(
    ("error", "retry_on_user_error", "retried"),
    [
        ("RunFailedError:SYSTEM", False, True),
        ("RunFailedError:USER", False, False),
        ("RunFailedError:USER", True, True),
        ("RunFailedError:None", False, False),
        ("RunTimedOutError:None", False, False),
        ("RunAbortedError:None", True, False),
        ("UnavailableError", False, True),
        ("PermissionDeniedError", False, False),
        ("NotFoundError", False, False),
        ("InvalidInputError", False, False),
        ("OutputTypeError", False, False),
        ("WaitTimeoutError", False, True),
        ("RuntimeError", False, False),
    ],
)
def test_failure_classification_follows_the_core(error, retry_on_user_error, retried):
    from airflow.sdk.exceptions import AirflowFailException

    from flyte_airflow._event import FlyteRunEvent, FlyteRunException
    from flyte_remote_core.orchestration import classify

    exc = _error(error)
    event = FlyteRunEvent.from_error(_FakeRun(), exc)
    assert event.kind is classify(exc).kind  # the core's classification, unchanged
    # ... and it survives the trigger's payload round trip
    assert FlyteRunEvent.from_payload(event.to_payload()).kind is event.kind
    with pytest.raises((FlyteRunException, AirflowFailException)) as raised:
        event.raise_for_status(retry_on_user_error=retry_on_user_error)
    assert isinstance(raised.value, AirflowFailException) is not retried, raised.value
    assert "boom" in str(raised.value) or "r-1" in str(raised.value)
    assert classify(exc, retry_user_errors=retry_on_user_error).retryable is retried


def test_events_from_an_older_provider_still_settle():
    """A payload written before events carried the outcome (a task deferred across an upgrade)."""
    from flyte_airflow._event import FlyteRunEvent, FlyteRunException, FlyteRunFailedException

    old = {
        "status": "failed",
        "run_name": "r-1",
        "phase": "FAILED",
        "error_kind": "SYSTEM",
        "retryable": True,
        "message": "boom",
    }
    with pytest.raises(FlyteRunException):
        FlyteRunEvent.from_payload(old).raise_for_status()
    with pytest.raises(FlyteRunFailedException):
        FlyteRunEvent.from_payload({**old, "error_kind": "USER", "retryable": False}).raise_for_status()
