"""FlyteRunSensor: wait until a Flyte run reaches a target phase."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from flyte_airflow._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    default_deferrable,
)
from flyte_airflow._event import FlyteRunEvent, FlyteRunFailedException
from flyte_airflow.hooks.flyte import FlyteHook
from flyte_airflow.links.flyte import FlyteRunLink, announce_run
from flyte_airflow.triggers.flyte import FlyteRunTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

_ALLOWED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT", "RECOVERED", "RUNNING")


class FlyteRunSensor(BaseSensorOperator):
    """Wait for the Flyte run ``run_name`` to reach one of ``target_phases``.

    Succeeds when the run reaches a target phase (``RUNNING`` counts as reached once the
    run runs or has succeeded), fails when it reaches any other terminal phase (or is
    skipped with ``soft_fail``). With ``return_outputs`` a succeeded run's outputs
    ``{name: JSON-safe value}`` become the sensor's XCom. Works in ``poke`` and
    ``reschedule`` modes and deferred (one shared stream per project in the triggerer).

    :param run_name: the run to watch (templated; e.g. ``"{{ ti.xcom_pull('launch', key='run_name') }}"``).
    :param project: its project (templated); the connection's by default.
    :param domain: its domain (templated); the connection's by default.
    :param target_phases: phases that satisfy the sensor.
    :param return_outputs: return a succeeded run's outputs as the XCom value.
    """

    template_fields: Sequence[str] = ("run_name", "project", "domain")
    operator_extra_links = (FlyteRunLink(),)
    ui_color = "#e6dcfb"

    def __init__(
        self,
        *,
        run_name: str,
        project: str | None = None,
        domain: str | None = None,
        target_phases: Iterable[str] = ("SUCCEEDED",),
        return_outputs: bool = True,
        flyte_conn_id: str = FlyteHook.default_conn_name,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from flyte_remote_core import Phase

        phases = [target_phases] if isinstance(target_phases, str) else list(target_phases)
        parsed = []
        for value in phases:
            phase = Phase.parse(value).value
            if phase not in _ALLOWED:
                raise ValueError(f"target phase {value!r} is not supported; choose from {', '.join(_ALLOWED)}")
            parsed.append(phase)
        if not parsed:
            raise ValueError("target_phases must name at least one phase")
        self.run_name = run_name
        self.project = project
        self.domain = domain
        self.target_phases = tuple(parsed)
        self.return_outputs = return_outputs
        self.flyte_conn_id = flyte_conn_id
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)

    def _reached(self, phase: str) -> bool:
        if phase in self.target_phases:
            return True
        return "RUNNING" in self.target_phases and phase in ("SUCCEEDED", "RECOVERED")

    def _result(self, event: FlyteRunEvent) -> Any:
        if self.return_outputs and event.phase in ("SUCCEEDED", "RECOVERED"):
            return dict(event.outputs)
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        hook = FlyteHook(self.flyte_conn_id, project=self.project, domain=self.domain)
        try:
            try:
                run = hook.get_run(self.run_name, project=self.project, domain=self.domain)
            except AirflowException:
                raise
            except Exception as exc:
                outcome = hook.outcome(exc)
                if outcome.retryable:  # transient: the next poke tries again
                    self.log.warning(
                        "Could not read Flyte run %s (will poke again): %s", self.run_name, outcome.message
                    )
                    return False
                raise hook.exception_for(exc, f"could not read Flyte run {self.run_name!r}") from exc
            announce_run(context["ti"], run.name, run.url)
            phase = run.phase.value
            self.log.info("Flyte run %s is %s (waiting for %s)", run.name, phase, "/".join(self.target_phases))
            if not self._reached(phase) and not run.done():
                return False
            # A finished run goes through the core (outputs, or the error's kind and message).
            return self._settle(hook.result_event(run) if run.done() else FlyteRunEvent.for_run(run))
        finally:
            hook.close()

    def _settle(self, event: FlyteRunEvent) -> PokeReturnValue:
        if event.status in ("error", "deadline"):
            event.raise_for_status()
        if self._reached(event.phase):
            return PokeReturnValue(is_done=True, xcom_value=self._result(event))
        raise FlyteRunFailedException(
            event.describe() + f" -- not one of the target phases {', '.join(self.target_phases)}"
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self._first_poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        wait_for = "running" if "RUNNING" in self.target_phases else "terminal"
        self.defer(
            trigger=FlyteRunTrigger(
                run_name=self.run_name,
                flyte_conn_id=self.flyte_conn_id,
                project=self.project,
                domain=self.domain,
                deadline=time.time() + float(self.timeout),
                wait_for=wait_for,
                fetch_outputs=self.return_outputs
                and bool({"SUCCEEDED", "RECOVERED", "RUNNING"} & set(self.target_phases)),
                abort_on_deadline=False,
                cancel_on_kill=False,
            ),
            method_name="execute_complete",
        )

    def _first_poke(self, context: Context) -> bool | PokeReturnValue:
        """One look before deferring, failing the way ``BaseSensorOperator.execute`` would.

        This poke runs outside ``BaseSensorOperator.execute`` (which applies ``soft_fail``
        and ``never_fail``), so a run that already ended in another phase must be skipped
        here by the same rules. ``execute_complete`` is covered by ``resume_execution``.
        """
        try:
            return self.poke(context)
        except (AirflowSensorTimeout, AirflowFailException) as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {exc}"
                ) from exc
            raise
        except AirflowSkipException:
            raise
        except Exception as exc:
            if self.never_fail:
                raise AirflowSkipException(f"Skipping (never_fail): {exc}") from exc
            raise

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        result = FlyteRunEvent.from_payload(event)
        if result.status == "deadline":
            raise AirflowSensorTimeout(
                f"Sensor has timed out waiting for Flyte run {result.run_name}: {result.message}"
            )
        return self._settle(result).xcom_value
