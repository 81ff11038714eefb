"""Records: the ``flyte.remote`` objects (Run, Action, Task, ...), parsed once from the wire.

Each record wraps its ``flyteidl2`` message (``pb2``) and holds the
:class:`~flyte_remote_core._services.Services` it came from, never a client; its I/O
methods block and have ``.aio`` twins (:mod:`flyte_remote_core._syncify`).
"""

from __future__ import annotations

from ._action import Action, ActionDetails, ActionInputs, ActionOutputs, WaitFor
from ._entities import Project, Secret, Trigger, User
from ._launch import LAUNCH_LABEL, create_run, find_run, get_run, run_spec
from ._run import Run, RunChange, RunDetails
from ._task import Task, TaskInput, TaskOutput, fetch_task

__all__ = [
    "LAUNCH_LABEL",
    "Action",
    "ActionDetails",
    "ActionInputs",
    "ActionOutputs",
    "Project",
    "Run",
    "RunChange",
    "RunDetails",
    "Secret",
    "Task",
    "TaskInput",
    "TaskOutput",
    "Trigger",
    "User",
    "WaitFor",
    "create_run",
    "fetch_task",
    "find_run",
    "get_run",
    "run_spec",
]
