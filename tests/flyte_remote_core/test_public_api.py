"""The public surface is pinned: adding or removing a name must be a deliberate change here."""

from __future__ import annotations

import inspect

import flyte_remote_core

EXPECTED_ALL = {
    "TERMINAL", "Action", "ActionDetails", "ActionInputs", "ActionOutputs", "AlreadyExistsError",
    "ApiKey", "AuthenticationError", "ConfigurationError", "DataFrameRef", "DirRef", "FileRef", "FlyteClient", "FlyteError",
    "FlyteInputError", "InvalidArgumentError", "InvalidInputError", "InvalidRunNameError", "InvalidRunOptionError", "LaunchOutcome",
    "NotFoundError", "PermissionDeniedError", "Phase", "Project", "RemoteDeadlineExceededError", "RemoteError",
    "Run", "RunResult", "RunAbortedError", "RunAlreadyExistsError", "RunDetails", "RunError", "RunFailedError",
    "RunTimedOutError", "Secret", "StorageError", "TLSError", "Task", "TaskInput", "TaskOutput", "Trigger", "UnavailableError",
    "UnimplementedError", "User", "WaitTimeoutError", "abort_quietly", "check_run_name", "create_channel",
    "deterministic_run_name", "encode_api_key", "init", "launch_or_attach", "parse_api_key", "redact", "run_to_completion", "settings_from_env", "upload_dir", "upload_file",
    "wait_for_result",
}


def test_all_is_pinned() -> None:
    assert set(flyte_remote_core.__all__) == EXPECTED_ALL
    assert len(flyte_remote_core.__all__) == len(EXPECTED_ALL), "duplicates in __all__"
    for name in flyte_remote_core.__all__:
        assert hasattr(flyte_remote_core, name), name


# Seed: every class, method and property of flyte.remote that this package promises.
SEED_MEMBERS = {
    "Action": ["details", "done", "sync", "to_dict", "to_json", "wait", "watch", "action_id", "name", "phase",
               "raw_phase", "run_name", "task_name"],
    "ActionDetails": ["done", "inputs", "logs_available", "outputs", "to_dict", "to_json", "watch_updates",
                      "abort_info", "action_id", "attempts", "error_info", "is_running", "metadata", "name", "phase",
                      "raw_phase", "run_name", "runtime", "status", "task_name"],
    "ActionInputs": ["clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault",
                     "to_dict", "to_json", "update", "values"],
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
    missing = [f"{cls}.{member}" for cls, members in SEED_MEMBERS.items() for member in members
               if not hasattr(getattr(flyte_remote_core, cls), member)]
    assert missing == []


def test_io_methods_have_async_twins() -> None:
    for cls_name, method in [("Run", "wait"), ("Run", "outputs"), ("Run", "abort"), ("Run", "sync"),
                             ("Action", "details"), ("Action", "wait"), ("FlyteClient", "get_task"),
                             ("FlyteClient", "run"), ("FlyteClient", "get_run"), ("FlyteClient", "list_runs")]:
        descriptor = inspect.getattr_static(getattr(flyte_remote_core, cls_name), method)
        bound = descriptor.__get__(object.__new__(getattr(flyte_remote_core, cls_name)))
        assert callable(bound) and callable(bound.aio), f"{cls_name}.{method}"


def test_create_channel_takes_seed_parameters() -> None:
    from flyte_remote_core import create_channel

    params = inspect.signature(create_channel).parameters
    for name in ["endpoint", "api_key", "insecure", "insecure_skip_verify", "ca_cert_file_path", "ssl_credentials",
                 "grpc_options", "compression", "http_session", "proxy_command"]:
        assert name in params, name
    assert inspect.iscoroutinefunction(create_channel)


def test_package_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("flyte_remote_core").joinpath("py.typed").is_file()


def test_class_level_and_module_level_calls_have_async_twins() -> None:
    for member in (flyte_remote_core.Task.get, flyte_remote_core.Run.get, flyte_remote_core.Run.listall,
                   flyte_remote_core.upload_file, flyte_remote_core.upload_dir):
        assert callable(member) and callable(member.aio), member
