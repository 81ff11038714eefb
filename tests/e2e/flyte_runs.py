"""What the end-to-end tests read back from the devserver: the runs of a task, old and new."""

from __future__ import annotations

from typing import Any

from flyte_remote_core.devserver import DevServer


def run_names(flyte: DevServer, task_name: str) -> set[str]:
    with flyte.client() as client:
        return {r.name for r in client.list_runs(task_name=task_name, limit=1000)}


def new_runs(flyte: DevServer, task_name: str, before: set[str]) -> list[Any]:
    """The runs of ``task_name`` whose names are not in ``before``."""
    with flyte.client() as client:
        return [r for r in client.list_runs(task_name=task_name, limit=1000) if r.name not in before]
