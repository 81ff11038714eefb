"""The engine's vocabulary: action phases, run names, identifiers and small conversions.

Phase constants, run-name rules, :class:`ActionKey`, :class:`Target` (what runs a task),
timestamp/URI conversions, and the protobuf helpers that record phase transitions, finish
an action and turn ``ActionDetails`` into ``Run``/``Action`` messages. No state lives here.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote, urlparse

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from google.protobuf import timestamp_pb2

log = logging.getLogger("flyte_remote_core.devserver")

P = phase_pb2
QUEUED = P.ACTION_PHASE_QUEUED
INITIALIZING = P.ACTION_PHASE_INITIALIZING
RUNNING = P.ACTION_PHASE_RUNNING
SUCCEEDED = P.ACTION_PHASE_SUCCEEDED
FAILED = P.ACTION_PHASE_FAILED
ABORTED = P.ACTION_PHASE_ABORTED
TIMED_OUT = P.ACTION_PHASE_TIMED_OUT
Phase = phase_pb2.ActionPhase  # an action phase (an int), as the messages type it
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED, ABORTED, TIMED_OUT, P.ACTION_PHASE_RECOVERED})


def live_sql_condition(phase_column: str = "phase") -> str:
    """The SQL condition for an action still live, on a column of action phases (``a.phase`` in a join).

    Spelled as comparisons: SQLite evaluates a NOT IN list of five values through a temporary
    table, on every save that changes a phase.
    """
    return " AND ".join(f"{phase_column} <> {int(p)}" for p in sorted(TERMINAL_PHASES))


# On the actions table. The store's partial index is declared with this exact text, so that the
# queries using it can use the index.
LIVE_SQL_CONDITION = live_sql_condition()

RUN_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RUN_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_RUN_NAME = 30
DEFAULT_PROJECT = "flytesnacks"
DEFAULT_DOMAINS = ("development", "staging", "production")
DEFAULT_ABORT_REASON = "User requested abort"
ROOT_ACTION = "a0"
KIND_USER = rd.ErrorInfo.KIND_USER
KIND_SYSTEM = rd.ErrorInfo.KIND_SYSTEM

Key = tuple[str, str, str, str]  # an action: (project, domain, run, action name)


_RUN_NAME_TAIL = 19
_RUN_NAME_SPACE = len(RUN_NAME_ALPHABET) ** _RUN_NAME_TAIL


def generate_run_name() -> str:
    # One draw from the OS's CSPRNG spelled in the alphabet: 19 secrets.choice calls cost 19 draws.
    n = secrets.randbelow(_RUN_NAME_SPACE)
    tail = []
    for _ in range(_RUN_NAME_TAIL):
        n, digit = divmod(n, len(RUN_NAME_ALPHABET))
        tail.append(RUN_NAME_ALPHABET[digit])
    return "r" + "".join(tail)


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


def file_uri(path: Path | str) -> str:
    """``file://`` URI of a path, spelled as ``Path.as_uri`` does.

    The engine's folders are resolved once at start, so an absolute path is not resolved again:
    that realpath walk, and pathlib's parsing, were the largest costs of a CreateRun.
    """
    text = os.fspath(path)
    if not os.path.isabs(text):
        text = str(Path(text).resolve())
    return "file://" + quote_from_bytes(os.fsencode(text))


def uri_to_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if uri.startswith("/"):
        return Path(uri)
    return None


def read_file(uri: str) -> bytes | None:
    """The bytes of the local file behind ``uri``; None when there is no such file."""
    path = uri_to_path(uri) if uri else None
    if path is None or not path.exists():
        return None
    return path.read_bytes()


@dataclass
class Target:
    """What runs a task: the function to call (or the container args to run), how often and how long it may try."""

    module: str
    function: str
    retries: int = 0
    timeout_s: float | None = None
    args: tuple[str, ...] = ()  # a deployed Flyte spec's container args (a0 ...): run by execution.sdk
    env: tuple[tuple[str, str], ...] = ()  # the container's environment variables

    @property
    def is_container(self) -> bool:
        return bool(self.args)


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

    def tuple(self) -> Key:
        return (self.project, self.domain, self.run, self.name)

    def __hash__(self) -> int:
        return hash(self.tuple())


def key_of(det: rd.ActionDetails) -> Key:
    return (det.id.run.project, det.id.run.domain, det.id.run.name, det.id.name)


def transition(att: rd.ActionAttempt, phase: Phase, now: float) -> None:
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


def set_phase(det: rd.ActionDetails, phase: Phase, now: float) -> None:
    """Move a live action and its current attempt to ``phase``, recording the transition."""
    transition(det.attempts[-1], phase, now)
    det.status.phase = phase
    det.attempts[-1].phase = phase


def finish(
    det: rd.ActionDetails,
    phase: Phase,
    now: float,
    *,
    error: rd.ErrorInfo | None = None,
    abort: rd.AbortInfo | None = None,
) -> None:
    """End an action (and its current attempt) in the terminal ``phase``."""
    det.status.phase = phase
    det.status.end_time.CopyFrom(ts(now))
    start = det.status.start_time.ToNanoseconds() / 1e9 if det.status.HasField("start_time") else now
    det.status.duration_ms = max(0, int((now - start) * 1000))
    if error is not None:
        det.error_info.CopyFrom(error)
    if abort is not None:
        det.abort_info.CopyFrom(abort)
    if det.attempts:
        att = det.attempts[-1]
        if att.phase not in TERMINAL_PHASES:
            transition(att, phase, now)
            att.phase = phase
            att.end_time.CopyFrom(ts(now))
        if error is not None and not att.HasField("error_info"):
            att.error_info.CopyFrom(error)


def run_from_details(det: rd.ActionDetails) -> rd.Run:
    run = rd.Run()
    run.action.id.CopyFrom(det.id)
    run.action.metadata.CopyFrom(det.metadata)
    run.action.status.CopyFrom(det.status)
    return run


def action_from_details(det: rd.ActionDetails) -> rd.Action:
    return rd.Action(id=det.id, metadata=det.metadata, status=det.status)
