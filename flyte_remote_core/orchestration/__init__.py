"""Orchestration: what an orchestrator step does with a Flyte task, shared by every integration.

Launch or attach idempotently (:func:`launch_or_attach`), wait with an absolute deadline and
abort past it (:func:`wait_for_result`, :func:`run_to_completion`), abort on the way out
(:func:`abort_quietly`, :func:`abort_named`), return a :class:`RunResult`, and say how a step
ended and whether to retry it (:func:`classify` -> :class:`Outcome`). Integrations get their
clients through :class:`ClientSlot` / :class:`SharedClients` and scrub :func:`secrets_of` their
settings from what they show. The Airflow provider and the Dagster integration use these
unchanged, so both behave alike.
"""

from __future__ import annotations

from ._clients import ClientSlot, SharedClients, settings_key
from ._launch import LaunchOutcome, launch_identity, launch_or_attach
from ._outcome import Outcome, OutcomeKind, OutputTypeError, RunResult, classify, deadline_message
from ._protocols import ClientLike, RunLike, TaskLike
from ._secrets import SECRET_SETTINGS, secrets_of
from ._wait import abort_named, abort_quietly, abort_quietly_sync, run_to_completion, wait_for_result

__all__ = [
    "SECRET_SETTINGS",
    "ClientLike",
    "ClientSlot",
    "LaunchOutcome",
    "Outcome",
    "OutcomeKind",
    "OutputTypeError",
    "RunLike",
    "RunResult",
    "SharedClients",
    "TaskLike",
    "abort_named",
    "abort_quietly",
    "abort_quietly_sync",
    "classify",
    "deadline_message",
    "launch_identity",
    "launch_or_attach",
    "run_to_completion",
    "secrets_of",
    "settings_key",
    "wait_for_result",
]
