"""Turning the core's :class:`~flyte_remote_core.orchestration.Outcome` into ``dagster.Failure``.

Whether Dagster may retry is the core's call (``Outcome.retryable``), the same rule the
Airflow provider follows; this module only puts the outcome into Dagster's terms: a
description, ``dagster-flyte/`` metadata, and ``allow_retries``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

from flyte_remote_core.orchestration import OutcomeKind

from ._results import metadata_key

if TYPE_CHECKING:
    from flyte_remote_core.orchestration import Outcome

__all__ = ["failure_for"]


def failure_for(outcome: Outcome, task_name: str) -> dg.Failure:
    """A ``dagster.Failure`` with the run's URL, error kind and message as metadata."""
    if outcome.kind.ran:
        description = f"{outcome.message} (task {task_name})"
    elif outcome.kind is OutcomeKind.DEADLINE:
        description = f"Flyte run {outcome.run_name} of {task_name}: {outcome.message}"
    else:
        description = f"Flyte task {task_name}: {outcome.message}"
    metadata: dict[str, Any] = {}
    if outcome.url:
        metadata[metadata_key("run_url")] = dg.MetadataValue.url(outcome.url)
    for name, value in (
        ("run_name", outcome.run_name),
        ("task", task_name),
        ("phase", outcome.phase),
        ("outcome", outcome.kind.value),
        ("error_kind", outcome.error_kind),
        ("error_code", outcome.error_code),
    ):
        if value:
            metadata[metadata_key(name)] = dg.MetadataValue.text(str(value))
    if outcome.detail:
        metadata[metadata_key("error_message")] = dg.MetadataValue.md(f"```\n{outcome.detail}\n```")
    metadata[metadata_key("retryable")] = dg.MetadataValue.bool(outcome.retryable)
    if outcome.kind is OutcomeKind.DEADLINE:
        metadata[metadata_key("aborted")] = dg.MetadataValue.bool(bool(outcome.aborted))
    return dg.Failure(description=description, metadata=metadata, allow_retries=outcome.retryable)
