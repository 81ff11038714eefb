"""What a successful Flyte run gives a Dagster step: the core's result record, plus Dagster metadata."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import dagster as dg

from flyte_remote_core import RunResult

__all__ = ["METADATA_PREFIX", "FlyteRunResult", "metadata_key"]

METADATA_PREFIX = "dagster-flyte/"


def metadata_key(name: str) -> str:
    return METADATA_PREFIX + name


@dataclass(frozen=True)
class FlyteRunResult(RunResult):
    """A successful Flyte run: the core's :class:`~flyte_remote_core.RunResult` (identity,
    outputs as Python values, ``value`` for the single output) with its Dagster metadata.

    ``outputs`` maps Flyte output names (``o0``, ``o1``, ...) to values; dataclass outputs
    are rebuilt when their type was given (``output_types``), else they are dicts.
    ``launch`` is ``"launched"``, ``"attached"`` (a retry joined a live run) or ``"reused"``
    (a retry found the run SUCCEEDED).
    """

    @classmethod
    def of(cls, result: RunResult, *, task_name: str) -> FlyteRunResult:
        values = {f.name: getattr(result, f.name) for f in dataclasses.fields(RunResult)}
        values["task_name"] = result.task_name or task_name
        return cls(**values)

    @property
    def metadata(self) -> dict[str, dg.MetadataValue]:
        """Dagster metadata under the ``dagster-flyte/`` namespace."""
        return {
            metadata_key("run_url"): dg.MetadataValue.url(self.url),
            metadata_key("run_name"): dg.MetadataValue.text(self.run_name),
            metadata_key("task"): dg.MetadataValue.text(self.task_name),
            metadata_key("phase"): dg.MetadataValue.text(self.phase),
            metadata_key("duration_s"): dg.MetadataValue.float(float(self.duration_s)),
            metadata_key("attempts"): dg.MetadataValue.int(int(self.attempts)),
            metadata_key("launch"): dg.MetadataValue.text(self.launch),
        }
