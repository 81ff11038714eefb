"""Orchestration: what an orchestrator step does with a Flyte task, shared by every integration.

Launch or attach idempotently (:func:`launch_or_attach`), wait with an absolute deadline and
abort past it (:func:`wait_for_result`, :func:`run_to_completion`), abort on the way out
(:func:`abort_quietly`), and return a :class:`RunResult`. The Airflow provider and the
Dagster integration use these unchanged, so both behave alike.
"""

from __future__ import annotations

from ._launch import LaunchOutcome, launch_or_attach
from ._wait import RunResult, abort_quietly, run_to_completion, wait_for_result

__all__ = ["LaunchOutcome", "RunResult", "abort_quietly", "launch_or_attach", "run_to_completion", "wait_for_result"]
