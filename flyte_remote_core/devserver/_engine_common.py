"""The engine's shared vocabulary: action phases, run names, identifiers and small helpers.

Phase constants, run-name rules, :class:`ActionKey`, :class:`Target` (what the executor
runs), :class:`RunControl` (admin hold state), timestamp/URI conversions, and the
protobuf helpers that record phase transitions and turn ``ActionDetails`` into
``Run``/``Action`` messages. No state lives here.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from google.protobuf import timestamp_pb2

from ._store import TERMINAL_PHASES

log = logging.getLogger("flyte_remote_core.devserver")

P = phase_pb2
QUEUED = P.ACTION_PHASE_QUEUED
INITIALIZING = P.ACTION_PHASE_INITIALIZING
RUNNING = P.ACTION_PHASE_RUNNING
SUCCEEDED = P.ACTION_PHASE_SUCCEEDED
FAILED = P.ACTION_PHASE_FAILED
ABORTED = P.ACTION_PHASE_ABORTED
TIMED_OUT = P.ACTION_PHASE_TIMED_OUT

JOB_PHASES = {
    "QUEUED": QUEUED,
    "INITIALIZING": INITIALIZING,
    "RUNNING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "TIMED_OUT": TIMED_OUT,
    "ABORTED": ABORTED,
}

RUN_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RUN_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_RUN_NAME = 30
DEFAULT_PROJECT = "flytesnacks"
DEFAULT_DOMAINS = ("development", "staging", "production")
DEFAULT_ABORT_REASON = "User requested abort"
ROOT_ACTION = "a0"
KIND_USER = rd.ErrorInfo.KIND_USER
KIND_SYSTEM = rd.ErrorInfo.KIND_SYSTEM


def generate_run_name() -> str:
    return "r" + "".join(secrets.choice(RUN_NAME_ALPHABET) for _ in range(19))


def validate_run_name(name: str) -> None:
    if len(name) > MAX_RUN_NAME or not _RUN_NAME_RE.match(name):
        raise ConnectError(
            Code.INVALID_ARGUMENT,
            f"invalid run name {name!r}: a run name must be a DNS-1035 label "
            f"([a-z]([-a-z0-9]*[a-z0-9])?) of at most {MAX_RUN_NAME} characters",
        )


def ts(t: float | None) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    if t is not None:
        out.FromNanoseconds(int(t * 1e9))
    return out


def not_found(what: str) -> ConnectError:
    return ConnectError(Code.NOT_FOUND, f"{what} not found")


def file_uri(path: Path) -> str:
    return Path(path).resolve().as_uri()


def uri_to_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    if uri.startswith("/"):
        return Path(uri)
    return None


@dataclass
class Target:
    """What the executor needs to run a task."""

    module: str
    function: str
    retries: int = 0
    timeout_s: float | None = None


@dataclass
class ActionKey:
    project: str
    domain: str
    run: str
    name: str = ROOT_ACTION

    @classmethod
    def of(cls, action_id: identifier_pb2.ActionIdentifier) -> ActionKey:
        r = action_id.run
        return cls(r.project, r.domain, r.name, action_id.name or ROOT_ACTION)

    def tuple(self) -> tuple[str, str, str, str]:
        return (self.project, self.domain, self.run, self.name)

    def __hash__(self) -> int:
        return hash(self.tuple())


@dataclass
class RunControl:
    """Test-control state shared by the engine, the admin API and the interceptor."""

    hold_all: bool = False
    held: set[str] = field(default_factory=set)
    stashed: dict[tuple, Any] = field(default_factory=dict)


def timeout_seconds(value) -> float | None:
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        value = value.total_seconds()
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def transition(att: rd.ActionAttempt, phase: int, now: float) -> None:
    if att.phase_transitions:
        last = att.phase_transitions[-1]
        if last.phase == phase:
            return
        if not last.HasField("end_time"):
            last.end_time.CopyFrom(ts(now))
    pt = att.phase_transitions.add(phase=phase)
    pt.start_time.CopyFrom(ts(now))
    if phase in TERMINAL_PHASES:
        pt.end_time.CopyFrom(ts(now))


def run_from_details(det: rd.ActionDetails) -> rd.Run:
    run = rd.Run()
    run.action.id.CopyFrom(det.id)
    run.action.metadata.CopyFrom(det.metadata)
    run.action.status.CopyFrom(det.status)
    return run


def action_from_details(det: rd.ActionDetails) -> rd.Action:
    return rd.Action(id=det.id, metadata=det.metadata, status=det.status)


def set_phase(det: rd.ActionDetails, phase: int, now: float) -> None:
    """Move a live action and its current attempt to ``phase``, recording the transition."""
    transition(det.attempts[-1], phase, now)
    det.status.phase = phase
    det.attempts[-1].phase = phase
