"""What the engine and an execution path agree on: a job, its updates, and who runs it.

The engine turns one attempt of an action into a :class:`Job`, hands it to a
:class:`Runner` with a callback, and hears back :class:`JobUpdate` objects on the
server's event loop: phases in order, then exactly one terminal update; SUCCEEDED only once
the outputs are at ``Job.outputs_path`` (the engine does not look). The task reads
its inputs from ``Job.inputs`` when the engine holds them (it keeps the inputs that runs
were created with in its database), else from ``Job.inputs_path``; a runner whose task
needs the path writes it first (:func:`ensure_inputs_file`). The task writes its outputs
to ``Job.outputs_path`` and its log to ``Job.log_path``; the engine reads both from there.
Nothing else crosses. The runner creates the folders of these paths (the engine's loop
makes no file system calls to launch a job), and readers take a log that does not exist
yet as empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "PHASES", "TERMINAL_PHASES", "ContainerSpec", "Job", "JobUpdate", "Runner",
    "ensure_inputs_file", "write_file_atomically", "write_missing_file",
]  # fmt: skip

# Job phases in the order a job goes through them; the last four are terminal.
PHASES = ("INITIALIZING", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
TERMINAL_PHASES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass
class ContainerSpec:
    """A deployed task's container (``a0 --inputs {{.input}} ...``) and who runs it.

    The runner fills the ``{{.x}}`` placeholders of ``args`` from the job's paths and
    these identifiers; the output prefix is the folder of ``Job.outputs_path``.
    """

    args: list[str]
    env: dict[str, str]
    project: str
    domain: str
    org: str
    run_name: str
    action_name: str
    run_base: Path  # the run's folder: every action's output prefix lives under it
    run_start_time: str = ""  # RFC 3339
    parent_job_id: str | None = None  # the job of the parent action, for nested actions


@dataclass
class Job:
    """One attempt of a task: the function to call (or the container to run) and where its data and log live."""

    job_id: str
    module: str
    function: str
    inputs_path: Path
    outputs_path: Path
    log_path: Path
    timeout_s: float | None = None
    attempt: int = 0
    container: ContainerSpec | None = None  # set: run the deployed spec (execution.sdk), not a function
    # The content of inputs_path when the engine holds it; the file may not exist then.
    inputs: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Callers often hold str paths (file URIs stripped of their scheme): accept both.
        self.inputs_path = Path(self.inputs_path)
        self.outputs_path = Path(self.outputs_path)
        self.log_path = Path(self.log_path)


@dataclass
class JobUpdate:
    job_id: str
    phase: str  # one of PHASES
    error_kind: str | None = None  # "USER" | "SYSTEM"
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = True  # False: the task said its error is not recoverable (no retry)

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


class Runner(Protocol):
    """An execution path (the worker pool, the SDK runner, or both). Every method runs on the event loop."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop running jobs (each ends ABORTED); never hangs."""

    def submit(self, job: Job, on_update: Callable[[JobUpdate], None]) -> None:
        """Queue a job; its updates arrive later through ``on_update``, never from inside submit."""

    async def abort(self, job_id: str, reason: str = "aborted") -> bool:
        """Stop a job; returns once its code no longer runs. False if unknown or finished."""


def write_file_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` beside ``path`` and rename it into place: a reader never sees half of it.

    The folder is made when it is missing (looked for only then: no extra call otherwise)."""
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(tmp) or ".", exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_missing_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` (atomically) unless a file is there: content-addressed files never change."""
    if not os.path.exists(path):
        write_file_atomically(path, data)


def note_in_log(job: Job, message: str) -> None:
    """Append ``[devserver] message`` to the job's log: what the runner, not the task, has to say."""
    try:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log_path, "a") as f:
            f.write(f"[devserver] {message}\n")
    except OSError:
        pass  # a log line is not worth failing the job's bookkeeping over


def ensure_inputs_file(job: Job) -> None:
    """Make ``job.inputs_path`` exist when the engine handed the inputs over in ``job.inputs``."""
    if job.inputs is not None:
        write_missing_file(job.inputs_path, job.inputs)
