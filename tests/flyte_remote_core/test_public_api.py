"""The public surface is pinned: adding or removing a name must be a deliberate change here."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

import flyte_remote_core

EXPECTED_ALL = {
    "TERMINAL",
    "Action",
    "ActionDetails",
    "ActionInputs",
    "ActionOutputs",
    "AlreadyExistsError",
    "ApiKey",
    "AuthenticationError",
    "ConfigurationError",
    "DataFrameRef",
    "DirRef",
    "FileRef",
    "FlyteClient",
    "FlyteError",
    "FlyteInputError",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidRunNameError",
    "InvalidRunOptionError",
    "LaunchOutcome",
    "NotFoundError",
    "PermissionDeniedError",
    "Phase",
    "Project",
    "RemoteDeadlineExceededError",
    "RemoteError",
    "Run",
    "RunResult",
    "RunAbortedError",
    "RunAlreadyExistsError",
    "RunChange",
    "RunDetails",
    "RunError",
    "RunFailedError",
    "RunTimedOutError",
    "Secret",
    "StorageError",
    "TLSError",
    "Task",
    "TaskInput",
    "TaskOutput",
    "Trigger",
    "UnavailableError",
    "UnimplementedError",
    "User",
    "WaitTimeoutError",
    "abort_quietly",
    "check_run_name",
    "create_channel",
    "deterministic_run_name",
    "encode_api_key",
    "init",
    "launch_or_attach",
    "parse_api_key",
    "redact",
    "run_to_completion",
    "settings_from_env",
    "upload_dir",
    "upload_file",
    "wait_for_result",
}


def test_all_is_pinned() -> None:
    assert set(flyte_remote_core.__all__) == EXPECTED_ALL
    assert len(flyte_remote_core.__all__) == len(EXPECTED_ALL), "duplicates in __all__"
    for name in flyte_remote_core.__all__:
        assert hasattr(flyte_remote_core, name), name


# Seed: every class, method and property of flyte.remote that this package promises.
SEED_MEMBERS = {
    "Action": [
        "details",
        "done",
        "sync",
        "to_dict",
        "to_json",
        "wait",
        "watch",
        "action_id",
        "name",
        "phase",
        "raw_phase",
        "run_name",
        "task_name",
    ],
    "ActionDetails": [
        "done",
        "inputs",
        "logs_available",
        "outputs",
        "to_dict",
        "to_json",
        "watch_updates",
        "abort_info",
        "action_id",
        "attempts",
        "error_info",
        "is_running",
        "metadata",
        "name",
        "phase",
        "raw_phase",
        "run_name",
        "runtime",
        "status",
        "task_name",
    ],
    "ActionInputs": [
        "clear",
        "copy",
        "fromkeys",
        "get",
        "items",
        "keys",
        "pop",
        "popitem",
        "setdefault",
        "to_dict",
        "to_json",
        "update",
        "values",
    ],
    "ActionOutputs": ["to_dict", "to_json"],
    "Project": ["to_dict", "to_json"],
    "Run": ["done", "sync", "to_dict", "to_json", "watch", "name", "phase", "raw_phase", "url"],
    "RunDetails": ["done", "inputs", "outputs", "to_dict", "to_json", "action_id", "name", "task_name"],
    "Secret": ["to_dict", "to_json", "name", "type"],
    "Task": ["get", "to_dict", "to_json", "name", "version"],
    "Trigger": ["get_details", "to_dict", "to_json", "automation_spec", "id", "is_active", "name", "task_name"],
    "User": ["name", "subject", "to_dict", "to_json"],
}


def test_seed_members_exist() -> None:
    missing = [
        f"{cls}.{member}"
        for cls, members in SEED_MEMBERS.items()
        for member in members
        if not hasattr(getattr(flyte_remote_core, cls), member)
    ]
    assert missing == []


def test_io_methods_have_async_twins() -> None:
    for cls_name, method in [
        ("Run", "wait"),
        ("Run", "outputs"),
        ("Run", "abort"),
        ("Run", "sync"),
        ("Action", "details"),
        ("Action", "wait"),
        ("FlyteClient", "get_task"),
        ("FlyteClient", "run"),
        ("FlyteClient", "get_run"),
        ("FlyteClient", "list_runs"),
        ("FlyteClient", "watch_runs"),
    ]:
        descriptor = inspect.getattr_static(getattr(flyte_remote_core, cls_name), method)
        bound = descriptor.__get__(object.__new__(getattr(flyte_remote_core, cls_name)))
        assert callable(bound) and callable(bound.aio), f"{cls_name}.{method}"


def test_create_channel_takes_seed_parameters() -> None:
    from flyte_remote_core import create_channel

    params = inspect.signature(create_channel).parameters
    for name in [
        "endpoint",
        "api_key",
        "insecure",
        "insecure_skip_verify",
        "ca_cert_file_path",
        "ssl_credentials",
        "grpc_options",
        "compression",
        "http_session",
        "proxy_command",
    ]:
        assert name in params, name
    assert inspect.iscoroutinefunction(create_channel)


def test_package_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("flyte_remote_core").joinpath("py.typed").is_file()


def test_class_level_and_module_level_calls_have_async_twins() -> None:
    for member in (
        flyte_remote_core.Task.get,
        flyte_remote_core.Run.get,
        flyte_remote_core.Run.listall,
        flyte_remote_core.upload_file,
        flyte_remote_core.upload_dir,
    ):
        assert callable(member) and callable(member.aio), member


# == Every public name and seed member is called, not only looked up ==============================
# Each test below declares what it calls (@calls) and calls it through `call`, which records the
# call; a test fails if it declared a call it did not make, and test_every_public_name_is_called
# checks that together they call all of EXPECTED_ALL and SEED_MEMBERS. What needs no server is
# called offline; the rest against the devserver (the flyte_devserver fixture; this folder's
# conftest.py gives it tests/devserver/sample_tasks.py). A call that fails because of a known
# source bug is a strict xfail naming the bug, so the suite stays green until the fix lands and the
# fix must remove the mark.

_CALLED: set[str] = set()


def calls(*names: str) -> Callable[[Any], Any]:
    """Declare the public names (``"redact"``) and members (``"Run.wait"``) a test calls.

    A test that passes must have made every declared call (through :func:`call`).
    """
    declared = frozenset(names)

    def made_them() -> None:
        assert sorted(declared - _CALLED) == [], "declared with @calls but not called"

    def mark(test: Any) -> Any:
        if inspect.iscoroutinefunction(test):

            @functools.wraps(test)
            async def checked_async(*args: Any, **kwargs: Any) -> None:
                _CALLED.clear()
                await test(*args, **kwargs)
                made_them()

            checked: Any = checked_async
        else:

            @functools.wraps(test)
            def checked(*args: Any, **kwargs: Any) -> None:
                _CALLED.clear()
                test(*args, **kwargs)
                made_them()

        checked.__calls__ = declared
        return checked

    return mark


def _public_name(obj: Any) -> str:
    if obj is flyte_remote_core:
        return ""
    cls = obj if inspect.isclass(obj) else type(obj)
    for klass in cls.__mro__:
        if klass.__name__ in EXPECTED_ALL and getattr(flyte_remote_core, klass.__name__) is klass:
            return klass.__name__
    raise AssertionError(f"{obj!r} is no public flyte_remote_core object")


def call(obj: Any, member: str, *args: Any, **kwargs: Any) -> Any:
    """``obj.member(*args, **kwargs)`` (or the property's value), recorded as ``"Class.member"``."""
    owner = _public_name(obj)
    value = getattr(obj, member)
    _CALLED.add(f"{owner}.{member}" if owner else member)
    return value(*args, **kwargs) if callable(value) else value


def test_every_public_name_is_called() -> None:
    declared: set[str] = set()
    for test in list(globals().values()):
        declared |= getattr(test, "__calls__", frozenset())
    wanted = EXPECTED_ALL | {f"{cls}.{member}" for cls, members in SEED_MEMBERS.items() for member in members}
    assert sorted(wanted - declared) == [], "public names no test calls"


# -- offline --------------------------------------------------------------------------------------


@calls(
    "ActionInputs",
    "ActionInputs.fromkeys",
    "ActionInputs.copy",
    "ActionInputs.get",
    "ActionInputs.items",
    "ActionInputs.keys",
    "ActionInputs.values",
    "ActionInputs.pop",
    "ActionInputs.popitem",
    "ActionInputs.setdefault",
    "ActionInputs.update",
    "ActionInputs.clear",
    "ActionInputs.to_dict",
    "ActionInputs.to_json",
)
def test_action_inputs_is_a_working_dict() -> None:
    wire = object()  # stands for the common_pb2.Inputs message the values were decoded from
    inputs = call(flyte_remote_core, "ActionInputs", wire, {"x": 1, "when": datetime(2024, 1, 2, tzinfo=UTC)})
    assert call(inputs, "get", "x") == 1 and call(inputs, "get", "nope", 7) == 7
    assert list(call(inputs, "keys")) == ["x", "when"]
    assert list(call(inputs, "values")) == [1, inputs["when"]] and dict(call(inputs, "items"))["x"] == 1
    assert call(inputs, "to_dict") == {"x": 1, "when": "2024-01-02T00:00:00+00:00"}
    assert json.loads(call(inputs, "to_json")) == call(inputs, "to_dict")

    made = call(flyte_remote_core.ActionInputs, "fromkeys", ["a", "b"], 0)
    assert isinstance(made, flyte_remote_core.ActionInputs) and dict(made) == {"a": 0, "b": 0}
    assert made.to_dict() == {"a": 0, "b": 0}

    dup = call(inputs, "copy")
    assert isinstance(dup, flyte_remote_core.ActionInputs) and dict(dup) == dict(inputs) and dup.pb2 is wire
    dup["x"] = 2
    assert inputs["x"] == 1, "a copy must not share its values"

    assert call(dup, "setdefault", "y", 3) == 3 and dup["y"] == 3
    call(dup, "update", {"z": 4})
    assert call(dup, "pop", "z") == 4 and "z" not in dup
    before = dict(dup)
    key, value = call(dup, "popitem")
    assert before[key] == value and key not in dup and len(dup) == len(before) - 1
    call(dup, "clear")
    assert dict(dup) == {} and dict(inputs) != {}


@calls("ActionOutputs", "ActionOutputs.to_dict", "ActionOutputs.to_json")
def test_action_outputs_by_position_and_by_name() -> None:
    outputs = call(flyte_remote_core, "ActionOutputs", None, (3, "s"), ("total", "label"))
    assert outputs[0] == 3 and outputs["label"] == "s" and tuple(outputs) == (3, "s")
    assert outputs.named == {"total": 3, "label": "s"}
    assert call(outputs, "to_dict") == {"total": 3, "label": "s"}
    assert json.loads(call(outputs, "to_json")) == {"total": 3, "label": "s"}
    with pytest.raises(KeyError, match="nope"):
        outputs["nope"]
    assert flyte_remote_core.ActionOutputs(None, (1,)).named == {"o0": 1}


@calls("Phase", "TERMINAL")
def test_every_phase_parses_and_classifies() -> None:
    terminal = call(flyte_remote_core, "TERMINAL")
    for phase in flyte_remote_core.Phase:
        assert call(flyte_remote_core, "Phase", phase.value) is phase
        assert str(phase) == phase.value and phase == phase.value
        assert flyte_remote_core.Phase.parse(phase.value.lower()) is phase
        assert flyte_remote_core.Phase.parse(f"ACTION_PHASE_{phase.value}") is phase
        assert flyte_remote_core.Phase.parse(phase.raw) is phase
        assert flyte_remote_core.Phase.from_raw(phase.raw) is phase
        assert phase.is_terminal == (phase in terminal)
        assert not phase.is_success or phase.is_terminal
    assert flyte_remote_core.Phase.SUCCEEDED.is_success and not flyte_remote_core.Phase.FAILED.is_success
    with pytest.raises(ValueError, match="unknown phase"):
        flyte_remote_core.Phase.parse("bogus")


_REMOTE_ERRORS = [
    "RemoteError",
    "NotFoundError",
    "AlreadyExistsError",
    "InvalidArgumentError",
    "AuthenticationError",
    "PermissionDeniedError",
    "UnavailableError",
    "TLSError",
    "RemoteDeadlineExceededError",
    "UnimplementedError",
]
_RUN_ERRORS = ["RunError", "RunFailedError", "RunAbortedError", "RunTimedOutError"]


@calls(
    "FlyteError",
    "FlyteInputError",
    "ConfigurationError",
    "StorageError",
    "InvalidInputError",
    "InvalidRunNameError",
    "InvalidRunOptionError",
    "WaitTimeoutError",
    "RunAlreadyExistsError",
    "Run",
    "redact",
    *_REMOTE_ERRORS,
    *_RUN_ERRORS,
)
def test_every_error_is_constructed_raised_and_read() -> None:
    from flyteidl2.workflow import run_definition_pb2

    for name in ["FlyteError", "FlyteInputError", "ConfigurationError", "StorageError"]:
        error = call(flyte_remote_core, name, "it broke")
        assert isinstance(error, flyte_remote_core.FlyteError) and str(error) == "it broke"
    for error in [
        call(flyte_remote_core, "InvalidInputError", "x", expected="int", given="str", task="t.add"),
        call(flyte_remote_core, "InvalidRunNameError", "Bad_Name", "upper case"),
        call(flyte_remote_core, "InvalidRunOptionError", "labels", expected="dict", given="list"),
    ]:
        assert isinstance(error, flyte_remote_core.FlyteInputError) and isinstance(error, ValueError)
    assert "Bad_Name" in str(flyte_remote_core.InvalidRunNameError("Bad_Name", "upper case"))

    for name in _REMOTE_ERRORS:
        error = call(flyte_remote_core, name, "no such thing", code=grpc.StatusCode.NOT_FOUND, entity="task t.add")
        assert isinstance(error, flyte_remote_core.RemoteError) and error.code is grpc.StatusCode.NOT_FOUND
        assert "no such thing" in str(error) and "task t.add" in str(error)
        assert error.retryable == (name in ("UnavailableError", "RemoteDeadlineExceededError")), name
    for name in _RUN_ERRORS:
        error = call(flyte_remote_core, name, "r1", phase="FAILED", message="boom", kind="SYSTEM", url="http://x/r1")
        assert isinstance(error, flyte_remote_core.RunError)
        assert all(part in str(error) for part in ("r1", "FAILED", "boom", "http://x/r1"))
        assert error.retryable == (name == "RunFailedError"), name

    timeout = call(flyte_remote_core, "WaitTimeoutError", "r1", 5.0, "RUNNING")
    assert isinstance(timeout, TimeoutError) and "5 s" in str(timeout) and timeout.aborted is None
    with pytest.raises(TimeoutError):
        raise timeout

    pb2 = run_definition_pb2.Run()
    pb2.action.id.run.name = "r-existing"
    run = call(flyte_remote_core, "Run", pb2)
    exists = call(flyte_remote_core, "RunAlreadyExistsError", run)
    assert exists.run is run and "r-existing" in str(exists)
    assert isinstance(exists, flyte_remote_core.AlreadyExistsError)

    text = call(flyte_remote_core, "redact", "login with hunter22 and token=abc123", "hunter22")
    assert "hunter22" not in text and "abc123" not in text


@calls("ApiKey", "encode_api_key", "parse_api_key")
def test_api_keys_round_trip_and_never_show_the_secret() -> None:
    key = call(flyte_remote_core, "encode_api_key", "flyte.example.com:443", "app", "s3cret", "org1")
    parsed = call(flyte_remote_core, "parse_api_key", key)
    assert parsed == call(flyte_remote_core, "ApiKey", "flyte.example.com:443", "app", "s3cret", "org1")
    assert parsed.org == "org1" and "s3cret" not in repr(parsed) and "s3cret" not in str(parsed)
    with pytest.raises(flyte_remote_core.ConfigurationError):
        flyte_remote_core.parse_api_key("")
    with pytest.raises(flyte_remote_core.ConfigurationError):
        flyte_remote_core.encode_api_key("e", "a:b", "s")


@calls("check_run_name", "deterministic_run_name")
def test_run_names() -> None:
    assert call(flyte_remote_core, "check_run_name", "my-run-1") == "my-run-1"
    with pytest.raises(flyte_remote_core.InvalidRunNameError):
        flyte_remote_core.check_run_name("My_Run")
    name = call(flyte_remote_core, "deterministic_run_name", "pipeline/step-1", 1)
    assert name == flyte_remote_core.deterministic_run_name("pipeline/step-1", 1)
    assert name != flyte_remote_core.deterministic_run_name("pipeline/step-1", 2)
    assert flyte_remote_core.check_run_name(name) == name


@calls("FileRef", "DirRef", "DataFrameRef", "TaskInput", "TaskOutput")
def test_value_records() -> None:
    for name in ("FileRef", "DirRef", "DataFrameRef"):
        ref = call(flyte_remote_core, name, "s3://bucket/key", "csv")
        assert (ref.uri, ref.format) == ("s3://bucket/key", "csv")
        assert ref == getattr(flyte_remote_core, name)("s3://bucket/key", "csv")
    required = call(flyte_remote_core, "TaskInput", "x", "int", None)
    optional = flyte_remote_core.TaskInput("y", "int", None, 2)
    assert required.required and not optional.required and optional.default == 2
    assert call(flyte_remote_core, "TaskOutput", "o0", "int", None).name == "o0"


@calls("settings_from_env", "FlyteClient")
def test_settings_and_a_client_need_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FLYTE_API_KEY", "FLYTE_CLIENT_ID", "FLYTE_CLIENT_SECRET", "FLYTE_ORG", "FLYTE_CA_CERT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FLYTE_ENDPOINT", "127.0.0.1:1")
    monkeypatch.setenv("FLYTE_INSECURE", "true")
    monkeypatch.setenv("FLYTE_PROJECT", "proj")
    monkeypatch.setenv("FLYTE_DOMAIN", "dev")
    endpoint, options = call(flyte_remote_core, "settings_from_env", {"domain": "staging"})
    assert endpoint == "127.0.0.1:1"
    assert options["insecure"] is True and options["project"] == "proj" and options["domain"] == "staging"

    with call(flyte_remote_core, "FlyteClient", endpoint, **options) as client:  # connects lazily: no server here
        assert client.run_url("r1").endswith("/project/proj/runs/r1") and "/domain/staging/" in client.run_url("r1")
    client = flyte_remote_core.FlyteClient.from_env()
    assert "/domain/dev/project/proj/runs/r2" in client.run_url("r2")
    client.close()
    monkeypatch.delenv("FLYTE_ENDPOINT")
    with pytest.raises(flyte_remote_core.ConfigurationError, match="FLYTE_ENDPOINT"):
        flyte_remote_core.settings_from_env({})


@calls("create_channel")
async def test_create_channel_is_lazy() -> None:
    channel = await call(flyte_remote_core, "create_channel", "127.0.0.1:1", insecure=True)
    try:
        assert isinstance(channel, grpc.aio.Channel)
        assert channel.get_state(try_to_connect=False) is grpc.ChannelConnectivity.IDLE
    finally:
        await channel.close()


# -- against the devserver ----------------------------------------------------------------------------


@calls("Task", "Task.get", "Task.name", "Task.version", "Task.to_dict", "Task.to_json", "Task.sync", "Task.to_inputs")
def test_tasks_for_real(flyte_devserver: Any) -> None:
    client = flyte_devserver.client
    newest = client.get_task("sample_tasks.add")
    task = call(flyte_remote_core.Task, "get", "sample_tasks.add", client=client)
    assert (call(task, "name"), call(task, "version")) == ("sample_tasks.add", newest.version)
    assert call(task, "to_dict")["task_id"]["name"] == "sample_tasks.add"
    assert json.loads(call(task, "to_json")) == task.to_dict()
    assert call(task, "sync") is task and task.version == newest.version
    assert [i.name for i in task.inputs] == ["x", "y"] and [o.name for o in task.outputs] == ["o0"]
    assert len(call(task, "to_inputs", {"x": 1, "y": 2}).literals) == 2
    by_hand = call(flyte_remote_core, "Task", task.pb2)  # seed style: a record from its message
    assert (by_hand.name, by_hand.version, by_hand.to_dict()) == (task.name, task.version, task.to_dict())
    with pytest.raises(flyte_remote_core.InvalidInputError):
        task.to_inputs({"x": "not a number", "y": 2})
    pinned = flyte_remote_core.Task.get("sample_tasks.add", version=newest.version, client=client)
    assert pinned.version == newest.version
    # The seed's spelling for "the newest version".
    latest = flyte_remote_core.Task.get("sample_tasks.add", auto_version="latest", client=client)
    assert latest.version == newest.version


@pytest.mark.parametrize("auto_version", ["no-such-mode", "current"])
def test_task_get_refuses_an_auto_version_it_cannot_honour(flyte_devserver: Any, auto_version: str) -> None:
    # flyte.remote raises ValueError for an unknown auto_version, and "current" needs a task
    # context this client never has; silently returning the newest version would hide that.
    flyte_devserver.admin.reset_counters()
    with pytest.raises(ValueError, match="auto_version") as err:
        flyte_remote_core.Task.get("sample_tasks.add", auto_version=auto_version, client=flyte_devserver.client)
    assert isinstance(err.value, flyte_remote_core.FlyteInputError)
    assert sum(flyte_devserver.admin.counters().values()) == 0, "refused before anything was sent"


@calls(
    "Run",
    "RunDetails",
    "Action",
    "ActionDetails",
    "Run.wait",
    "Run.done",
    "Run.sync",
    "Run.to_dict",
    "Run.to_json",
    "Run.watch",
    "Run.name",
    "Run.phase",
    "Run.raw_phase",
    "Run.url",
    "Run.details",
    "Run.outputs",
    "Run.inputs",
    "Run.action",
    "Run.get",
    "Run.listall",
    "Run.abort",
    "RunDetails.done",
    "RunDetails.inputs",
    "RunDetails.outputs",
    "RunDetails.to_dict",
    "RunDetails.to_json",
    "RunDetails.action_id",
    "RunDetails.name",
    "RunDetails.task_name",
    "Action.details",
    "Action.done",
    "Action.sync",
    "Action.to_dict",
    "Action.to_json",
    "Action.wait",
    "Action.watch",
    "Action.action_id",
    "Action.name",
    "Action.phase",
    "Action.raw_phase",
    "Action.run_name",
    "Action.task_name",
    "ActionDetails.done",
    "ActionDetails.inputs",
    "ActionDetails.logs_available",
    "ActionDetails.outputs",
    "ActionDetails.to_dict",
    "ActionDetails.to_json",
    "ActionDetails.watch_updates",
    "ActionDetails.abort_info",
    "ActionDetails.action_id",
    "ActionDetails.attempts",
    "ActionDetails.error_info",
    "ActionDetails.is_running",
    "ActionDetails.metadata",
    "ActionDetails.name",
    "ActionDetails.phase",
    "ActionDetails.raw_phase",
    "ActionDetails.run_name",
    "ActionDetails.runtime",
    "ActionDetails.status",
    "ActionDetails.task_name",
)
def test_runs_actions_and_their_details_for_real(flyte_devserver: Any) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 1, "y": 2})
    assert call(run, "wait", quiet=True, timeout=30) is run
    assert call(run, "done") and call(run, "phase") is flyte_remote_core.Phase.SUCCEEDED
    assert call(run, "raw_phase") == flyte_remote_core.Phase.SUCCEEDED.raw
    assert call(run, "url") == client.run_url(run.name) and call(run, "name") == run.name
    assert call(run, "sync") is run and run.done()
    assert call(run, "to_dict")["action"]["id"]["run"]["name"] == run.name
    assert json.loads(call(run, "to_json")) == run.to_dict()
    assert [d.phase for d in call(run, "watch")] == [flyte_remote_core.Phase.SUCCEEDED]  # ends: the run is done
    assert call(run, "outputs").named == {"o0": 3} and dict(call(run, "inputs")) == {"x": 1, "y": 2}
    assert call(flyte_remote_core.Run, "get", run.name, client=client).name == run.name
    assert run.name in [r.name for r in call(flyte_remote_core.Run, "listall", client=client)]

    details = call(run, "details")
    assert call(details, "done") and call(details, "name") == run.name
    assert call(details, "task_name") == "sample_tasks.add" and call(details, "action_id").name == "a0"
    assert dict(call(details, "inputs")) == {"x": 1, "y": 2} and call(details, "outputs").named == {"o0": 3}
    assert json.loads(call(details, "to_json")) == call(details, "to_dict")

    action = call(run, "action")
    assert (call(action, "name"), call(action, "run_name"), call(action, "task_name")) == (
        "a0",
        run.name,
        "sample_tasks.add",
    )
    assert call(action, "action_id").run.name == run.name and call(action, "done")
    assert call(action, "phase") is flyte_remote_core.Phase.SUCCEEDED and call(action, "raw_phase") == run.raw_phase
    assert json.loads(call(action, "to_json")) == call(action, "to_dict")
    assert call(action, "sync") is action
    assert [d.phase for d in call(action, "watch")] == [flyte_remote_core.Phase.SUCCEEDED]
    assert call(action, "wait", quiet=True, timeout=30).done()

    ad = call(action, "details")
    assert call(ad, "done") and not call(ad, "is_running") and call(ad, "attempts") == 1
    assert (call(ad, "name"), call(ad, "run_name"), call(ad, "task_name")) == ("a0", run.name, "sample_tasks.add")
    assert call(ad, "phase") is flyte_remote_core.Phase.SUCCEEDED and call(ad, "raw_phase") == run.raw_phase
    assert call(ad, "action_id").name == "a0"
    assert call(ad, "error_info") is None and call(ad, "abort_info") is None
    assert call(ad, "status").phase == run.raw_phase and call(ad, "metadata") is not None
    assert isinstance(call(ad, "runtime"), timedelta) and isinstance(call(ad, "logs_available"), bool)
    assert dict(call(ad, "inputs")) == {"x": 1, "y": 2} and call(ad, "outputs").named == {"o0": 3}
    assert json.loads(call(ad, "to_json")) == call(ad, "to_dict")
    assert [u.phase for u in call(ad, "watch_updates")] == [flyte_remote_core.Phase.SUCCEEDED]

    # Seed style: records built by hand from their messages read the same.
    for record, cls in [(run, "Run"), (details, "RunDetails"), (action, "Action"), (ad, "ActionDetails")]:
        by_hand = call(flyte_remote_core, cls, record.pb2)
        assert (by_hand.name, by_hand.phase, by_hand.to_dict()) == (record.name, record.phase, record.to_dict()), cls

    flyte_devserver.admin.hold(all_new_runs=True)
    try:
        held = client.run("sample_tasks.add", {"x": 2, "y": 2})
        held.wait(quiet=True, wait_for="running", timeout=30)
        call(held, "abort", "the test aborts it")
        assert held.wait(quiet=True, timeout=30).phase is flyte_remote_core.Phase.ABORTED
    finally:
        flyte_devserver.admin.release_all()


@calls(
    "Project",
    "User",
    "Secret",
    "Project.to_dict",
    "Project.to_json",
    "User.name",
    "User.subject",
    "User.to_dict",
    "User.to_json",
    "Secret.name",
    "Secret.type",
    "Secret.to_dict",
    "Secret.to_json",
)
def test_projects_users_and_secrets_for_real(flyte_devserver: Any) -> None:
    client = flyte_devserver.client
    project = client.get_project()
    assert project.name == "flytesnacks" and "development" in project.domains
    assert call(project, "to_dict")["name"] == "flytesnacks"
    assert json.loads(call(project, "to_json")) == project.to_dict()
    assert call(flyte_remote_core, "Project", project.pb2).domains == project.domains

    user = client.user()
    assert call(user, "subject") == "local" and call(user, "name")
    assert call(user, "to_dict")["subject"] == "local" and json.loads(call(user, "to_json")) == user.to_dict()
    assert call(flyte_remote_core, "User", user.pb2).subject() == "local"

    client.create_secret("api-test-secret", "s3cret-value")
    try:
        secret = client.get_secret("api-test-secret")
        assert (call(secret, "name"), call(secret, "type")) == ("api-test-secret", "generic")
        assert "s3cret-value" not in call(secret, "to_json")
        assert call(secret, "to_dict")["id"]["name"] == "api-test-secret"
        assert call(flyte_remote_core, "Secret", secret.pb2).name == "api-test-secret"
    finally:
        client.delete_secret("api-test-secret")


@calls(
    "Trigger",
    "Trigger.activate",
    "Trigger.deactivate",
    "Trigger.get_details",
    "Trigger.to_dict",
    "Trigger.to_json",
    "Trigger.automation_spec",
    "Trigger.id",
    "Trigger.is_active",
    "Trigger.name",
    "Trigger.task_name",
)
def test_triggers_for_real(flyte_devserver: Any) -> None:
    from flyteidl2.common import identifier_pb2
    from flyteidl2.task import common_pb2
    from flyteidl2.trigger import trigger_definition_pb2, trigger_service_pb2, trigger_service_pb2_grpc

    client = flyte_devserver.client
    task = client.get_task("sample_tasks.add")
    name = identifier_pb2.TriggerName(
        project="flytesnacks", domain="development", name="api-test-yearly", task_name=task.name
    )
    yearly = common_pb2.TriggerAutomationSpec(
        type=common_pb2.TYPE_SCHEDULE, schedule=common_pb2.Schedule(cron_expression="0 0 1 1 *")
    )
    spec = trigger_definition_pb2.TriggerSpec(
        active=False, task_version=task.version, inputs=task.to_inputs({"x": 1, "y": 2})
    )
    with grpc.insecure_channel(flyte_devserver.endpoint) as channel:
        trigger_service_pb2_grpc.TriggerServiceStub(channel).DeployTrigger(
            trigger_service_pb2.DeployTriggerRequest(name=name, spec=spec, automation_spec=yearly), timeout=10
        )
    trigger = client.get_trigger("api-test-yearly", task_name=task.name)
    assert (call(trigger, "name"), call(trigger, "task_name")) == ("api-test-yearly", "sample_tasks.add")
    assert call(trigger, "id").name.name == "api-test-yearly" and call(trigger, "is_active") is False
    assert call(trigger, "automation_spec").schedule.cron_expression == "0 0 1 1 *"
    assert call(trigger, "get_details").id.name.name == "api-test-yearly"
    assert json.loads(call(trigger, "to_json")) == call(trigger, "to_dict")
    assert [t.name for t in client.list_triggers(task_name=task.name)] == ["api-test-yearly"]
    assert call(flyte_remote_core, "Trigger", trigger.pb2).automation_spec == trigger.automation_spec
    call(trigger, "activate")
    assert client.get_trigger("api-test-yearly", task_name=task.name).is_active is True
    call(trigger, "deactivate")
    assert client.get_trigger("api-test-yearly", task_name=task.name).is_active is False


@calls("launch_or_attach", "wait_for_result", "run_to_completion", "abort_quietly", "LaunchOutcome", "RunResult")
async def test_orchestration_for_real(flyte_devserver: Any) -> None:
    client = flyte_devserver.client

    async def done(value: Any) -> Any:  # the orchestration functions are coroutines
        return await value if inspect.isawaitable(value) else value

    outcome = await done(
        call(
            flyte_remote_core,
            "launch_or_attach",
            client,
            "sample_tasks.add",
            {"x": 2, "y": 3},
            key="api-test/step",
            attempt=1,
        )
    )
    assert isinstance(outcome, flyte_remote_core.LaunchOutcome) and outcome.launched and outcome.attempt == 1
    again = await done(
        flyte_remote_core.launch_or_attach(client, "sample_tasks.add", {"x": 2, "y": 3}, key="api-test/step", attempt=1)
    )
    assert again.run.name == outcome.run.name and not again.launched  # idempotent: attached or reused

    result = await done(call(flyte_remote_core, "wait_for_result", client, outcome.run))
    assert isinstance(result, flyte_remote_core.RunResult)
    assert (result.phase, result.outputs, result.run_name) == ("SUCCEEDED", {"o0": 5}, outcome.run.name)
    finished = await done(
        call(flyte_remote_core, "run_to_completion", client, "sample_tasks.add", {"x": 4, "y": 4}, key="api-test/other")
    )
    assert finished.outputs == {"o0": 8} and finished.json_outputs == {"o0": 8}

    by_hand = call(flyte_remote_core, "LaunchOutcome", outcome.run, "attached", 2)
    assert not by_hand.launched and (by_hand.run, by_hand.action, by_hand.attempt) == (outcome.run, "attached", 2)
    record = call(
        flyte_remote_core, "RunResult", "r1", "http://x/r1", "SUCCEEDED", {"o0": 1}, {"o0": 1}, 0.5, 1, "launched"
    )
    assert (record.run_name, record.outputs, record.attempts) == ("r1", {"o0": 1}, 1)

    flyte_devserver.admin.hold(all_new_runs=True)
    try:
        held = await client.run.aio("sample_tasks.add", {"x": 1, "y": 1})
        assert await done(call(flyte_remote_core, "abort_quietly", held, "the test aborts it")) is True
        assert (await held.wait.aio(quiet=True, timeout=30)).phase is flyte_remote_core.Phase.ABORTED
    finally:
        flyte_devserver.admin.release_all()


@calls("RunChange", "FlyteClient.watch_runs")
async def test_watching_every_run_of_a_project_for_real(flyte_devserver: Any) -> None:
    client, admin = flyte_devserver.client, flyte_devserver.admin
    before = admin.call_count("ListRuns")
    changes: list[Any] = []

    async def watch() -> None:
        _CALLED.add("FlyteClient.watch_runs")  # its async form (the blocking one iterates on the client's loop)
        async for change in client.watch_runs.aio(phases=["SUCCEEDED"], task_name="sample_tasks.add"):
            changes.append(change)

    watching = asyncio.ensure_future(watch())
    try:
        deadline = time.monotonic() + 30

        async def eventually(condition: Callable[[], bool]) -> None:
            while not condition():
                if time.monotonic() > deadline:
                    raise AssertionError("not within 30 s")
                await asyncio.sleep(0.02)

        await eventually(lambda: admin.call_count("ListRuns") > before)  # the watch took its baseline
        run = await client.run.aio("sample_tasks.add", {"x": 20, "y": 22})
        await eventually(lambda: bool(changes))
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert len(changes) == 1 and isinstance(changes[0], flyte_remote_core.RunChange)
    change = changes[0]
    assert (change.name, change.phase, change.previous) == (run.name, flyte_remote_core.Phase.SUCCEEDED, "RUNNING")
    assert change.to_dict()["url"] == client.run_url(run.name) == change.url

    made = call(flyte_remote_core, "RunChange", change.run, flyte_remote_core.Phase.SUCCEEDED)
    assert (made.name, made.previous, made.resynced, made.task_name) == (run.name, None, False, "sample_tasks.add")


@calls("upload_file", "upload_dir", "init")
def test_uploads_and_the_default_client_for_real(flyte_devserver: Any, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "a.txt").write_text("a")
    md5, uri = call(flyte_remote_core, "upload_file", tmp_path / "hello.txt", client=flyte_devserver.client)
    assert md5 == "5d41402abc4b2a76b9719d911017c592" and uri.endswith("hello.txt")
    assert call(flyte_remote_core, "upload_dir", tmp_path / "tree", client=flyte_devserver.client)

    # init() sets a process-wide default: use it in a process of its own, without any client=.
    _CALLED.add("init")
    script = textwrap.dedent(f"""
        import json, pathlib, sys
        import flyte_remote_core as f
        client = f.init({flyte_devserver.endpoint!r}, insecure=True)
        run = client.run("sample_tasks.add", {{"x": 1, "y": 1}}).wait(quiet=True, timeout=30)
        print(json.dumps({{
            "task": f.Task.get("sample_tasks.add").name,
            "run": f.Run.get(run.name).name == run.name,
            "listed": run.name in [r.name for r in f.Run.listall()],
            "file": f.upload_file(pathlib.Path(sys.argv[1]))[0],
            "dir": bool(f.upload_dir(pathlib.Path(sys.argv[2]))),
        }}))
        client.close()
    """)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "hello.txt"), str(tmp_path / "tree")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "task": "sample_tasks.add",
        "run": True,
        "listed": True,
        "file": md5,
        "dir": True,
    }
