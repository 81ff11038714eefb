"""A lean client for the Flyte 2 API over gRPC, using the official ``flyteidl2`` wire types.

The public surface follows ``flyte.remote`` (Run, Action, Task, ActionOutputs,
create_channel, upload_file, ...) plus an explicit :class:`FlyteClient`, so several
endpoints can live in one process with no global state::

    from flyte_remote_core import FlyteClient

    client = FlyteClient("localhost:8090", insecure=True, project="flytesnacks", domain="development")
    run = client.run("tasks.add", {"x": 1, "y": 2})
    run.wait(quiet=True)
    print(run.outputs().named)          # {'o0': 3}

Every I/O method blocks; its ``.aio`` twin is awaitable (``await run.wait.aio()``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import FlyteClient
    from ._default import init, upload_dir, upload_file
    from ._errors import (
        AlreadyExistsError,
        AuthenticationError,
        ConfigurationError,
        FlyteError,
        FlyteInputError,
        InvalidArgumentError,
        InvalidInputError,
        InvalidRunNameError,
        InvalidRunOptionError,
        NotFoundError,
        PermissionDeniedError,
        RemoteDeadlineExceededError,
        RemoteError,
        RunAbortedError,
        RunAlreadyExistsError,
        RunError,
        RunFailedError,
        RunTimedOutError,
        StorageError,
        TLSError,
        UnavailableError,
        UnimplementedError,
        WaitTimeoutError,
        redact,
    )
    from ._names import check_run_name, deterministic_run_name
    from ._phases import TERMINAL, Phase
    from ._records import (
        Action,
        ActionDetails,
        ActionInputs,
        ActionOutputs,
        Project,
        Run,
        RunChange,
        RunDetails,
        Secret,
        Task,
        TaskInput,
        TaskOutput,
        Trigger,
        User,
    )
    from ._transport import ApiKey, create_channel, encode_api_key, parse_api_key, settings_from_env
    from .codec import DataFrameRef, DirRef, FileRef
    from .orchestration import (
        LaunchOutcome,
        RunResult,
        abort_quietly,
        launch_or_attach,
        run_to_completion,
        wait_for_result,
    )

# Names are imported on first use (PEP 562), so that ``import flyte_remote_core.devserver`` or
# ``.codec`` does not load the whole client: the devserver starts faster, and
# ``from flyte_remote_core import X`` works as before.
_WHERE: dict[str, str] = {
    "Action": "._records",
    "ActionDetails": "._records",
    "ActionInputs": "._records",
    "ActionOutputs": "._records",
    "AlreadyExistsError": "._errors",
    "ApiKey": "._transport",
    "AuthenticationError": "._errors",
    "ConfigurationError": "._errors",
    "DataFrameRef": ".codec",
    "DirRef": ".codec",
    "FileRef": ".codec",
    "FlyteClient": "._client",
    "FlyteError": "._errors",
    "FlyteInputError": "._errors",
    "InvalidArgumentError": "._errors",
    "InvalidInputError": "._errors",
    "InvalidRunNameError": "._errors",
    "InvalidRunOptionError": "._errors",
    "LaunchOutcome": ".orchestration",
    "NotFoundError": "._errors",
    "PermissionDeniedError": "._errors",
    "Phase": "._phases",
    "Project": "._records",
    "RemoteDeadlineExceededError": "._errors",
    "RemoteError": "._errors",
    "Run": "._records",
    "RunAbortedError": "._errors",
    "RunAlreadyExistsError": "._errors",
    "RunChange": "._records",
    "RunDetails": "._records",
    "RunError": "._errors",
    "RunFailedError": "._errors",
    "RunResult": ".orchestration",
    "RunTimedOutError": "._errors",
    "Secret": "._records",
    "StorageError": "._errors",
    "TERMINAL": "._phases",
    "TLSError": "._errors",
    "Task": "._records",
    "TaskInput": "._records",
    "TaskOutput": "._records",
    "Trigger": "._records",
    "UnavailableError": "._errors",
    "UnimplementedError": "._errors",
    "User": "._records",
    "WaitTimeoutError": "._errors",
    "abort_quietly": ".orchestration",
    "check_run_name": "._names",
    "create_channel": "._transport",
    "deterministic_run_name": "._names",
    "encode_api_key": "._transport",
    "init": "._default",
    "launch_or_attach": ".orchestration",
    "parse_api_key": "._transport",
    "redact": "._errors",
    "run_to_completion": ".orchestration",
    "settings_from_env": "._transport",
    "upload_dir": "._default",
    "upload_file": "._default",
    "wait_for_result": ".orchestration",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"


__all__ = [
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
    "RunAbortedError",
    "RunAlreadyExistsError",
    "RunChange",
    "RunDetails",
    "RunError",
    "RunFailedError",
    "RunResult",
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
]
