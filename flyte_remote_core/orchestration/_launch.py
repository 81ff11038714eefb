"""The idempotent launch that both orchestrator integrations use.

Orchestrators retry: a worker dies mid-wait, a step is retried, a task is cleared. Each
retry must not start a second remote run while the first is alive, and must not redo a
run that already succeeded. :func:`launch_or_attach` gets that from deterministic run
names: a stable key (Airflow: dag, task, run id, map index; Dagster: run id, step key,
partition) and a launch attempt give one name, and earlier attempts' names are checked
before anything new is launched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigurationError, NotFoundError, RunAlreadyExistsError
from .._names import MAX_RUN_NAME, check_run_name, deterministic_run_name
from ._protocols import ClientLike, RunLike, TaskLike

__all__ = ["LaunchOutcome", "launch_identity", "launch_or_attach"]

# How far back a new attempt looks for an earlier attempt's run.
_LOOKBACK = 8
_VERB = {"launched": "Launched", "attached": "Attached to the still active", "reused": "Reusing the succeeded"}


@dataclass(frozen=True)
class LaunchOutcome:
    """What :func:`launch_or_attach` did.

    ``action`` is ``"launched"`` (a new run), ``"attached"`` (an earlier attempt's run was
    still active) or ``"reused"`` (an earlier attempt's run had SUCCEEDED).
    """

    run: RunLike
    action: str
    attempt: int

    @property
    def launched(self) -> bool:
        return self.action == "launched"

    def describe(self, task_name: str) -> str:
        """One line for the step's log: what was done, with the run's name and URL."""
        verb = _VERB.get(self.action, self.action)
        return f"{verb} Flyte run {self.run.name} of {task_name}: {self.run.url}"


def launch_identity(task: TaskLike, prepared_inputs: Any) -> str:
    """What makes two launches the same work: the task's name and version, and a digest of the
    converted inputs (what :meth:`Task.to_inputs` returned)."""
    digest = hashlib.sha256(prepared_inputs.SerializeToString(deterministic=True)).hexdigest()
    return "\x00".join((task.name, task.version, digest))


async def launch_or_attach(
    client: ClientLike,
    task: TaskLike | str,
    inputs: Mapping[str, Any] | None = None,
    *,
    key: str = "",
    attempt: int = 1,
    prefix: str = "r",
    project: str | None = None,
    domain: str | None = None,
    version: str | None = None,
    name: str | None = None,
    attach_earlier: bool = True,
    **run_options: Any,
) -> LaunchOutcome:
    """Attach to, reuse, or launch the run for ``key``; see the module docstring.

    Run names derive from ``key``, the task (name and version) and the inputs, so the same
    step with new inputs (a cleared and re-run Airflow task, say) never reuses a run made
    for other inputs. With ``name``, the caller picks the run names instead: ``name`` for
    attempt 1, ``name-2``, ``name-3``, ... for later attempts.

    With ``attach_earlier=False`` a still-active run of an *earlier* attempt is not attached
    to: this attempt launches its own run (the caller has handed the earlier run to someone
    who will abort it, or aborts it itself: an Airflow task cleared while deferred). A
    SUCCEEDED earlier run is still reused, and this attempt's own run is still attached to.

    Inputs are converted and checked before any remote call that could start work.
    """
    if not key and name is None:
        raise ConfigurationError("launch_or_attach needs a stable key (or an explicit run name)")
    task_obj = (
        task
        if not isinstance(task, str)
        else await client.get_task.aio(task, version=version, project=project, domain=domain)
    )
    prepared = task_obj.to_inputs(dict(inputs or {}))  # raises InvalidInputError before anything is sent
    project = project or task_obj.project
    domain = domain or task_obj.domain
    if name is not None:
        check_run_name(name)

        def name_for(n: int) -> str:
            if n == 1:
                return name
            suffix = f"-{n}"  # a long name is shortened so that its retries still fit the rule
            return check_run_name(name[: MAX_RUN_NAME - len(suffix)].rstrip("-") + suffix)
    else:
        material = "\x00".join((key, launch_identity(task_obj, prepared)))

        def name_for(n: int) -> str:
            return deterministic_run_name(material, n, prefix=prefix)

    failed_at = 0
    for earlier in range(attempt, max(0, attempt - _LOOKBACK), -1):
        found = await _find_run(client, name_for(earlier), project, domain)
        if found is None:
            continue
        if found.phase.is_success:
            return LaunchOutcome(found, "reused", earlier)
        if not found.phase.is_terminal:
            if earlier != attempt and not attach_earlier:
                break  # superseded: never attach to a run that is about to be aborted
            return LaunchOutcome(found, "attached", earlier)
        failed_at = earlier  # FAILED, ABORTED or TIMED_OUT: launch anew
        break

    launch_attempt = attempt
    if failed_at == attempt:
        # This very attempt's name is taken by a failed run (the caller did not bump its
        # attempt): take the next free name rather than attach to the failure.
        launch_attempt = attempt + 1
        while await _find_run(client, name_for(launch_attempt), project, domain):
            launch_attempt += 1
    try:
        run = await client.create_run.aio(
            task_obj, prepared, name=name_for(launch_attempt), project=project, domain=domain, **run_options
        )
    except RunAlreadyExistsError as exc:  # raced with another launcher of the same attempt
        run = exc.run
        return LaunchOutcome(run, "reused" if run.phase.is_success else "attached", launch_attempt)
    return LaunchOutcome(run, "launched", launch_attempt)


async def _find_run(client: ClientLike, name: str, project: str, domain: str) -> RunLike | None:
    try:
        return await client.get_run.aio(name, project=project, domain=domain)
    except NotFoundError:
        return None
