"""What a finished Flyte run gives a Dagster step: values, metadata, or a ``dagster.Failure``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

__all__ = ["METADATA_PREFIX", "FlyteRunResult", "failure_for"]

METADATA_PREFIX = "dagster-flyte/"


def _key(name: str) -> str:
    return METADATA_PREFIX + name


@dataclass(frozen=True)
class FlyteRunResult:
    """A successful Flyte run: its identity and outputs as Python values.

    ``outputs`` maps Flyte output names (``o0``, ``o1``, ...) to values; dataclass outputs
    are rebuilt when their type was given (``output_types``), else they are dicts.
    ``launch`` is ``"launched"``, ``"attached"`` (a retry joined a live run) or ``"reused"``
    (a retry found the run SUCCEEDED).
    """

    run_name: str
    url: str
    phase: str
    outputs: dict[str, Any]
    duration_s: float
    attempts: int
    launch: str
    task_name: str = ""
    project: str = ""
    domain: str = ""
    json_outputs: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def value(self) -> Any:
        """The single output's value (None for a task without outputs)."""
        if not self.outputs:
            return None
        if len(self.outputs) > 1:
            raise ValueError(
                f"Flyte task {self.task_name!r} has {len(self.outputs)} outputs ({list(self.outputs)}); use .outputs"
            )
        return next(iter(self.outputs.values()))

    @property
    def metadata(self) -> dict[str, dg.MetadataValue]:
        """Dagster metadata under the ``dagster-flyte/`` namespace."""
        return {
            _key("run_url"): dg.MetadataValue.url(self.url),
            _key("run_name"): dg.MetadataValue.text(self.run_name),
            _key("task"): dg.MetadataValue.text(self.task_name),
            _key("phase"): dg.MetadataValue.text(self.phase),
            _key("duration_s"): dg.MetadataValue.float(float(self.duration_s)),
            _key("attempts"): dg.MetadataValue.int(int(self.attempts)),
            _key("launch"): dg.MetadataValue.text(self.launch),
        }


def failure_for(
    description: str,
    *,
    run_name: str | None = None,
    url: str | None = None,
    phase: str | None = None,
    kind: str | None = None,
    code: str | None = None,
    message: str | None = None,
    task_name: str | None = None,
    allow_retries: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> dg.Failure:
    """A ``dagster.Failure`` with the run's URL, error kind and message as metadata."""
    metadata: dict[str, Any] = {}
    if url:
        metadata[_key("run_url")] = dg.MetadataValue.url(url)
    for name, value in (("run_name", run_name), ("task", task_name), ("phase", phase), ("error_kind", kind),
                        ("error_code", code)):
        if value:
            metadata[_key(name)] = dg.MetadataValue.text(str(value))
    if message:
        metadata[_key("error_message")] = dg.MetadataValue.md(f"```\n{message}\n```")
    metadata[_key("retryable")] = dg.MetadataValue.bool(allow_retries)
    metadata.update(extra or {})
    return dg.Failure(description=description, metadata=metadata, allow_retries=allow_retries)
