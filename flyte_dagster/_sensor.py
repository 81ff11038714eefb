"""``build_flyte_run_sensor``: Flyte runs launched outside Dagster, recorded as asset materializations.

A run of the task that someone started from the Flyte console, the CLI, a Flyte trigger or
another orchestrator still produced the asset's data; the sensor tells Dagster so, one
``AssetMaterialization`` per run, with the run's name, URL, phase and a summary of its
outputs. Runs that this integration launched are left out: Dagster already recorded them.

How a run is recognised as "launched by flyte_dagster": ``FlyteResource.run_task`` (behind
every Flyte asset and op) names its runs deterministically through the core
(``deterministic_run_name(key, attempt, prefix="dg")``): ``dg-`` + 25 or fewer lower-case
base32 digest characters + ``-<attempt>``, exactly 30 characters. Runs named that way are
skipped; every other run counts as external (Airflow's ``af-...`` runs included). A run
launched through ``run_task(..., run_name="...")`` carries the caller's name and cannot be
told apart: it is counted as external.

The cursor (Dagster's sensor cursor, so it survives daemon restarts) is JSON::

    {"v": 1, "floor": <µs>, "high": <µs>, "seen": {"<run name>": <end µs>, ...}}

``high`` is the latest end time reported (µs since the epoch, the backend's clock),
``floor = high - LOOKBACK_S``, and ``seen`` holds the runs already reported (or present at
the first tick) that ended after ``floor``. A tick reports the runs of the task that are
terminal in one of ``phases``, ended after ``floor`` and are not in ``seen``, oldest end
first, at most ``MAX_EVENTS_PER_TICK``. The look-back tolerates a run whose end becomes
visible a little after a later run's (and a few minutes of clock skew between the Dagster
host and the backend) without reporting anything twice.

The first tick (no cursor) reports nothing: it records the runs that already ended and sets
the cursor, so only runs that end from then on are reported. To report past runs, set the
cursor (Dagster UI or ``dagster sensor cursor --set``) to an ISO-8601 time or epoch seconds:
the next tick reports the runs that ended after it. Resetting the cursor starts over.

The core's ``list_runs`` filters by task name on the server; phase and end time are filtered
here, over the ``LIST_LIMIT`` most recently created runs of the task.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from flyte_remote_core import Phase, Run, redact

from ._results import metadata_key

__all__ = ["LIST_LIMIT", "LOOKBACK_S", "MAX_EVENTS_PER_TICK", "build_flyte_run_sensor", "launched_by_flyte_dagster"]

LOOKBACK_S = 600.0
"""How far behind the newest reported end time a late-appearing run is still reported (seconds)."""
MAX_EVENTS_PER_TICK = 100
"""At most this many materializations per tick; the rest follow on the next ticks."""
LIST_LIMIT = 1000
"""How many of the task's most recently created runs a tick reads."""

CURSOR_VERSION = 1
_DAGSTER_RUN_NAME = re.compile(r"dg-[a-z2-7]+-[1-9][0-9]*")
_RUN_NAME_LENGTH = 30  # deterministic_run_name always fills the backend's limit
_NAME = re.compile(r"[A-Za-z0-9_]+")
_RESOURCE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VALUE_CHARS = 500  # an output value longer than this (as JSON) is shown shortened


def launched_by_flyte_dagster(run_name: str) -> bool:
    """True if ``run_name`` has the shape of the names ``FlyteResource.run_task`` gives its runs."""
    return len(run_name) == _RUN_NAME_LENGTH and _DAGSTER_RUN_NAME.fullmatch(run_name) is not None


def build_flyte_run_sensor(
    asset_key: dg.CoercibleToAssetKey,
    task_name: str,
    *,
    project: str | None = None,
    domain: str | None = None,
    resource_key: str = "flyte",
    phases: Iterable[str | Phase] | str | Phase = ("SUCCEEDED",),
    minimum_interval_seconds: int = 30,
    name: str | None = None,
    description: str | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor that records a materialization of ``asset_key`` for each run of ``task_name``
    launched outside Dagster that ended in one of ``phases`` (see the module docstring).

    Each ``AssetMaterialization`` carries ``dagster-flyte/run_name``, ``run_url``, ``task``,
    ``phase``, ``ended_at``, ``duration_s``, ``attempts``, ``launch`` (``"external"``), and
    ``outputs`` (the outputs as JSON, long values shortened) for a successful run or
    ``error`` for one that failed. ``project`` and ``domain`` default to the resource's.
    The resource bound to ``resource_key`` is a :class:`~flyte_dagster.FlyteResource` (or
    anything with its ``get_client()``). Every argument is checked here; a bad one raises
    ``dagster.DagsterInvalidDefinitionError`` naming it.
    """
    key = _asset_key(asset_key)
    task = _text("task_name", task_name)
    project = None if project is None else _text("project", project)
    domain = None if domain is None else _text("domain", domain)
    wanted = _phases(phases)
    if not isinstance(resource_key, str) or not _RESOURCE_KEY.fullmatch(resource_key):
        raise _invalid("resource_key", resource_key, "expected a Python identifier such as 'flyte'")
    if (
        isinstance(minimum_interval_seconds, bool)
        or not isinstance(minimum_interval_seconds, int)
        or minimum_interval_seconds < 1
    ):
        raise _invalid("minimum_interval_seconds", minimum_interval_seconds, "expected a whole number of seconds >= 1")
    sensor_name = name if name is not None else f"flyte_runs_{key.to_python_identifier()}"
    if not isinstance(sensor_name, str) or not _NAME.fullmatch(sensor_name):
        raise _invalid("name", name, "expected letters, digits and underscores only")
    phase_text = ", ".join(p.value for p in sorted(wanted, key=lambda p: p.raw))

    @dg.sensor(
        name=sensor_name,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        description=description
        or f"Records {key.to_user_string()} for each run of the Flyte task {task} launched outside Dagster that "
        f"ended {phase_text}.",
        default_status=default_status,
        metadata={metadata_key("task"): task, metadata_key("phases"): phase_text},
    )
    def _flyte_run_sensor(context: dg.SensorEvaluationContext, **_given: Any) -> dg.SensorResult:
        # Called directly (``sensor(context)``), Dagster also passes the resource by keyword,
        # unset up; the one the context holds is the one set up for this tick.
        flyte = getattr(context.resources, resource_key)
        client = flyte.get_client()
        runs = client.list_runs(project=project, domain=domain, task_name=task, limit=LIST_LIMIT)
        ended = [(end, run) for run in runs if (end := _candidate(run, task, wanted)) is not None]
        cursor = _Cursor.parse(context.cursor)
        if cursor is None:
            first = _Cursor.first(ended)
            context.log.info(
                f"First tick: the cursor starts at {_iso(first.high)}; {len(first.seen)} run(s) of {task} that ended "
                "before are not reported"
            )
            return dg.SensorResult(cursor=first.dump(), skip_reason=f"cursor set; watching runs of {task}")
        new = sorted(
            ((end, run) for end, run in ended if end > cursor.floor and run.name not in cursor.seen),
            key=lambda item: (item[0], item[1].name),
        )[:MAX_EVENTS_PER_TICK]
        secrets = _secrets(flyte)
        events = [_materialization(key, run, end, task, secrets) for end, run in new]
        cursor.add((run.name, end) for end, run in new)
        if not events:
            return dg.SensorResult(cursor=cursor.dump(), skip_reason=f"no new runs of {task} ended {phase_text}")
        context.log.info(f"Recorded {len(events)} external run(s) of {task} as {key.to_user_string()}")
        return dg.SensorResult(asset_events=events, cursor=cursor.dump())

    return _flyte_run_sensor


# -- arguments ---------------------------------------------------------------------------
def _invalid(argument: str, value: Any, why: str) -> dg.DagsterInvalidDefinitionError:
    return dg.DagsterInvalidDefinitionError(f"build_flyte_run_sensor: {argument}={value!r} is invalid: {why}")


def _text(argument: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(argument, value, "expected a non-empty string")
    return value


def _asset_key(value: Any) -> dg.AssetKey:
    try:
        key = dg.AssetKey.from_coercible(value)
    except Exception as exc:
        raise _invalid("asset_key", value, "expected an AssetKey, a string or a sequence of strings") from exc
    if not key.path or not all(isinstance(part, str) and part for part in key.path):
        raise _invalid("asset_key", value, "expected non-empty key parts")
    return key


def _phases(value: Any) -> frozenset[Phase]:
    items = [value] if isinstance(value, str | Phase) else value
    try:
        items = list(items)
    except TypeError:
        raise _invalid("phases", value, "expected phase names such as ('SUCCEEDED', 'FAILED')") from None
    if not items:
        raise _invalid("phases", value, "expected at least one phase")
    terminal = ", ".join(p.value for p in Phase if p.is_terminal)
    out: set[Phase] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | Phase):
            raise _invalid("phases", value, f"{item!r} is not a phase name; expected one of {terminal}")
        try:
            phase = Phase.parse(item)
        except ValueError:
            raise _invalid("phases", value, f"unknown phase {item!r}; expected one of {terminal}") from None
        if not phase.is_terminal:
            raise _invalid("phases", value, f"{phase.value} is not a phase a run ends in; expected one of {terminal}")
        out.add(phase)
    return frozenset(out)


# -- runs ---------------------------------------------------------------------------------
def _micros(stamp: Any) -> int:
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def _ended_at(run: Run) -> int | None:
    """When the run ended (µs since the epoch), stable across reads; None if the backend says nothing."""
    status = run.pb2.action.status
    if status.HasField("end_time"):
        return _micros(status.end_time)
    if status.HasField("start_time"):
        return _micros(status.start_time) + int(status.duration_ms) * 1000
    return None


def _candidate(run: Run, task: str, wanted: frozenset[Phase]) -> int | None:
    """The end time of a run this sensor reports, or None for a run it ignores."""
    if run.task_name not in (None, task) or run.phase not in wanted or launched_by_flyte_dagster(run.name):
        return None
    return _ended_at(run)


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=UTC).isoformat()


def _secrets(flyte: Any) -> tuple[str, ...]:
    try:
        return tuple(flyte._secrets())  # FlyteResource's: its settings' secrets, FLYTE_* included
    except Exception:  # another kind of resource: nothing known to scrub
        return ()


def _materialization(
    key: dg.AssetKey, run: Run, end: int, task: str, secrets: tuple[str, ...]
) -> dg.AssetMaterialization:
    status = run.pb2.action.status
    duration_s = int(status.duration_ms) / 1000 if status.duration_ms else 0.0
    if not duration_s and status.HasField("start_time"):
        duration_s = max(0.0, (end - _micros(status.start_time)) / 1e6)
    metadata: dict[str, Any] = {
        metadata_key("run_name"): dg.MetadataValue.text(run.name),
        metadata_key("run_url"): dg.MetadataValue.url(run.url),
        metadata_key("task"): dg.MetadataValue.text(task),
        metadata_key("phase"): dg.MetadataValue.text(run.phase.value),
        metadata_key("ended_at"): dg.MetadataValue.timestamp(end / 1e6),
        metadata_key("duration_s"): dg.MetadataValue.float(float(duration_s)),
        metadata_key("attempts"): dg.MetadataValue.int(run.attempts),
        metadata_key("launch"): dg.MetadataValue.text("external"),
    }
    if run.phase.is_success:
        metadata[metadata_key("outputs")] = _outputs_summary(run, secrets)
    else:
        metadata[metadata_key("error")] = dg.MetadataValue.text(_error_text(run, secrets))
    return dg.AssetMaterialization(
        asset_key=key,
        description=f"Flyte run {run.name} of {task} ended {run.phase.value} (launched outside Dagster)",
        metadata=metadata,
    )


def _outputs_summary(run: Run, secrets: tuple[str, ...]) -> dg.MetadataValue:
    try:
        outputs = run.outputs().to_dict()
    except Exception as exc:  # storage unreachable, an output that does not decode, ...
        return dg.MetadataValue.text(redact(f"outputs unavailable: {exc}", *secrets))
    return dg.MetadataValue.json({name: _short(value) for name, value in outputs.items()})


def _short(value: Any) -> Any:
    text = json.dumps(value, default=str)
    if len(text) <= _VALUE_CHARS:
        return value
    return f"{text[:_VALUE_CHARS]}... ({len(text)} characters)"


def _error_text(run: Run, secrets: tuple[str, ...]) -> str:
    try:
        error = run.details().action_details.error()
    except Exception as exc:
        return redact(f"run ended {run.phase.value}; its error could not be read: {exc}", *secrets)
    kind = f"{error.kind} error: " if error.kind else ""
    return redact(f"{kind}{error.message or 'run ended ' + run.phase.value}", *secrets)


# -- cursor -------------------------------------------------------------------------------
class _Cursor:
    """The sensor's progress (see the module docstring); JSON in Dagster's cursor."""

    def __init__(self, floor: int, high: int, seen: Mapping[str, int]) -> None:
        self.floor, self.high, self.seen = floor, high, dict(seen)

    @classmethod
    def first(cls, ended: list[tuple[int, Run]]) -> _Cursor:
        """The first tick's cursor: now (or the latest end seen, if later), with every run that already ended."""
        high = max([int(time.time() * 1_000_000), *(end for end, _ in ended)])
        floor = high - int(LOOKBACK_S * 1_000_000)
        return cls(floor, high, {run.name: end for end, run in ended if end > floor})

    @classmethod
    def parse(cls, text: str | None) -> _Cursor | None:
        """Our JSON, or a time set by hand (ISO-8601, or epoch seconds): report runs that ended after it."""
        if text is None or not text.strip():
            return None
        text = text.strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("v") == CURSOR_VERSION:
            try:
                seen = {str(n): int(e) for n, e in dict(data.get("seen") or {}).items()}
                return cls(int(data["floor"]), int(data["high"]), seen)
            except (KeyError, TypeError, ValueError):
                pass
        elif isinstance(data, int | float) and not isinstance(data, bool):
            return cls.since(float(data))
        else:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                return cls.since((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
        raise dg.DagsterInvariantViolationError(
            f"flyte run sensor: cursor {text[:200]!r} is neither this sensor's cursor nor a time (ISO-8601, such "
            "as '2026-01-31T12:00:00+00:00', or epoch seconds); set one of those, or clear the cursor to start now"
        )

    @classmethod
    def since(cls, seconds: float) -> _Cursor:
        micros = int(seconds * 1_000_000)
        return cls(micros, micros, {})

    def add(self, reported: Iterable[tuple[str, int]]) -> None:
        for name, end in reported:
            self.seen[name] = end
            self.high = max(self.high, end)
        self.floor = max(self.floor, self.high - int(LOOKBACK_S * 1_000_000))
        self.seen = {name: end for name, end in self.seen.items() if end > self.floor}

    def dump(self) -> str:
        seen = dict(sorted(self.seen.items(), key=lambda item: (item[1], item[0])))
        return json.dumps(
            {"v": CURSOR_VERSION, "floor": self.floor, "high": self.high, "seen": seen}, separators=(",", ":")
        )
