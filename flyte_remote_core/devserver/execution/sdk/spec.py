"""A deployed container spec, made runnable: placeholders, the runtime's environment, the result.

The runtime (``a0``, the SDK's ``flyte._bin.runtime``) reads its inputs from ``--inputs``, writes
``outputs.pb`` (success) or ``error.pb`` (an ``ErrorDocument``: the task's code, message, origin
USER/SYSTEM and whether a retry can help) into ``--outputs-path``, and exits 0 either way, so the
files, not the exit code, say how the attempt ended.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..interface import ContainerSpec, Job

__all__ = ["Result", "fill_args", "placeholder_values", "read_result", "runtime_env"]

_PLACEHOLDER = re.compile(r"\{\{\s*\.([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
ERROR_FILE = "error.pb"
OUTPUTS_FILE = "outputs.pb"


def placeholder_values(job: Job, spec: ContainerSpec) -> dict[str, str]:
    """The value of each ``{{.name}}`` placeholder (keys lower-cased) for this attempt."""
    prefix = str(job.outputs_path.parent)
    return {
        "input": str(job.inputs_path),
        "inputs": str(job.inputs_path),
        "outputprefix": prefix,
        "outputs": prefix,
        "rawoutputdataprefix": str(job.outputs_path.parent / "raw"),
        "checkpointoutputprefix": str(job.outputs_path.parent / "checkpoint"),
        # The previous attempt's checkpoint (empty on the first attempt).
        "prevcheckpointprefix": str(job.outputs_path.parent.parent / str(job.attempt - 1) / "checkpoint")
        if job.attempt > 1
        else "",
        "runname": spec.run_name,
        "actionname": spec.action_name,
        "runstarttime": spec.run_start_time,
        "podname": f"{spec.run_name}-{spec.action_name}-{job.attempt}",
        "project": spec.project,
        "domain": spec.domain,
    }


def fill_args(args: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """``args`` with every known ``{{.name}}`` replaced (case-insensitive); unknown ones are left as they are."""

    def sub(m: re.Match[str]) -> str:
        return values.get(m.group(1).lower(), m.group(0))

    return [_PLACEHOLDER.sub(sub, a) for a in args]


def runtime_env(
    job: Job, spec: ContainerSpec, *, endpoint: str, base: Mapping[str, str], python_path: Sequence[str] = ()
) -> dict[str, str]:
    """The environment of one attempt: ``base``, the task's own variables, then what the runtime needs."""
    env = dict(base)
    env.update(spec.env)
    env.update(
        {
            "FLYTE_INTERNAL_EXECUTION_PROJECT": spec.project,
            "FLYTE_INTERNAL_EXECUTION_DOMAIN": spec.domain,
            "_U_ORG_NAME": spec.org or "devserver",  # the runtime refuses an empty org
            "_U_RUN_BASE": str(spec.run_base),
            "_U_EP_OVERRIDE": endpoint,
            "_U_INSECURE": "true",
            "RUN_NAME": spec.run_name,
            "ACTION_NAME": spec.action_name,
            "FLYTE_ATTEMPT_NUMBER": str(max(job.attempt - 1, 0)),  # the SDK counts attempts from 0
            "FSSPEC_FILE_AUTO_MKDIR": "true",  # lets fsspec write into local output prefixes
            "PYTHONUNBUFFERED": "1",
        }
    )
    if python_path:
        parts = [*python_path, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


@dataclass(frozen=True)
class Result:
    phase: str  # "SUCCEEDED" | "FAILED"
    error_kind: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = True


def read_result(output_prefix: Path, exit_code: int | None, log_tail: str = "") -> Result:
    """How an attempt ended: ``error.pb`` first (it wins over outputs), then ``outputs.pb``, then the exit code."""
    from flyteidl2.core import execution_pb2

    error_file = output_prefix / ERROR_FILE
    if error_file.is_file():
        try:
            doc = execution_pb2.ErrorDocument.FromString(error_file.read_bytes())
        except Exception as e:  # a truncated file: the runtime died while writing it
            return Result("FAILED", "SYSTEM", "BadErrorDocument", f"cannot read {error_file}: {e}")
        err = doc.error
        kind = "SYSTEM" if err.origin == execution_pb2.ExecutionError.SYSTEM else "USER"
        retryable = err.kind != execution_pb2.ContainerError.NON_RECOVERABLE
        return Result("FAILED", kind, err.code or "Error", err.message or err.code or "task failed", retryable)
    if (output_prefix / OUTPUTS_FILE).is_file():
        return Result("SUCCEEDED")
    how = "was killed by a signal" if exit_code is not None and exit_code < 0 else f"exited with code {exit_code}"
    message = f"the task's runtime {how} without writing {OUTPUTS_FILE} or {ERROR_FILE}"
    if log_tail:
        message += f"; last log lines:\n{log_tail}"
    return Result("FAILED", "SYSTEM", "RuntimeExited", message)
