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
from .orchestration import LaunchOutcome, RunResult, abort_quietly, launch_or_attach, run_to_completion, wait_for_result

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
