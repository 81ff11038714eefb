"""What the console shows, read from the engine: runs, actions, their data and logs.

The reads are the ones the services make (``ActionStore.get_run_details``, ``list_actions``,
``get_action``, ``action_data``, ``newest_runs``; ``Attempts.log_path`` as TailLogs reads it),
turned into plain dataclasses so that the page templates never touch protobuf.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flyteidl2.common import phase_pb2
from flyteidl2.workflow import run_definition_pb2 as rd
from google.protobuf import text_format

from ..engine.actions import ActionStore
from ..engine.attempts import Attempts
from ..engine.model import ROOT_ACTION, TERMINAL_PHASES

LOG_TAIL_BYTES = 256 * 1024  # per attempt: a page stays small however chatty a task was
VALUE_CHARS = 20_000  # one rendered input or output
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
PHASES = [
    v.name.removeprefix("ACTION_PHASE_")
    for v in phase_pb2.ActionPhase.DESCRIPTOR.values
    if v.name != "ACTION_PHASE_UNSPECIFIED"
]


def _phase_number(name: str) -> int:
    """The phase named ``name`` ("succeeded", "SUCCEEDED"); -1, which no run has, for no phase."""
    try:
        return phase_pb2.ActionPhase.Value("ACTION_PHASE_" + name.strip().upper())
    except ValueError:
        return -1


def phase_name(phase: int) -> str:
    try:
        return phase_pb2.ActionPhase.Name(phase).removeprefix("ACTION_PHASE_")
    except ValueError:
        return str(phase)


def _seconds(det_ts: Any, present: bool) -> float | None:
    return det_ts.ToNanoseconds() / 1e9 if present else None


@dataclass
class LogView:
    attempt: int
    text: str
    truncated: bool  # only the tail of the file is shown


@dataclass
class ActionView:
    name: str
    parent: str
    phase: str
    terminal: bool
    task: str
    start: float | None
    end: float | None
    attempts: int
    error_kind: str = ""
    error_message: str = ""
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    logs: list[LogView] = field(default_factory=list)

    def duration(self, now: float) -> float | None:
        """Seconds from start to end (to ``now`` while it runs); None before it starts."""
        if self.start is None:
            return None
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclass
class RunView:
    project: str
    domain: str
    name: str
    actions: list[ActionView]  # in creation order: the root (a0) first
    now: float

    @property
    def root(self) -> ActionView:
        return next((a for a in self.actions if a.name == ROOT_ACTION), self.actions[0])

    @property
    def terminal(self) -> bool:
        return self.root.terminal and all(a.terminal for a in self.actions)

    def action(self, name: str) -> ActionView | None:
        return next((a for a in self.actions if a.name == name), None)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["phase"] = self.root.phase
        d["terminal"] = self.terminal
        return d


@dataclass
class RunRow:
    name: str
    phase: str
    task: str
    start: float | None
    end: float | None
    created: float

    def duration(self, now: float) -> float | None:
        if self.start is None:
            return None
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclass
class RunPage:
    rows: list[RunRow]
    total: int  # matching the filters, over all pages
    page: int  # 1-based
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def render_value(literal: Any, literal_type: Any) -> str:
    """A literal as readable text: the decoded value as JSON, else the protobuf text form."""
    # Imported on the first page that shows a value: the codec is a tenth of the devserver's start.
    from flyte_remote_core.codec import from_literal, to_json_safe

    try:
        value = to_json_safe(from_literal(literal, literal_type))
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        text = json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text
    except Exception:
        # Whatever the codec cannot decode (a type it does not know) is still worth seeing.
        text = text_format.MessageToString(literal, as_utf8=True)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + " ..."


def _named(named: Any, variables: Any) -> list[tuple[str, str]]:
    types = {e.key: e.value.type for e in variables.variables} if variables is not None else {}
    return [(n.name, render_value(n.value, types.get(n.name))) for n in named]


class ConsoleState:
    """Read-only queries for the console over the engine's stores."""

    def __init__(self, actions: ActionStore, attempts: Attempts) -> None:
        self.actions = actions
        self.attempts = attempts

    def run(self, project: str, domain: str, name: str) -> RunView | None:
        details = self.actions.get_run_details(project, domain, name)
        if details is None or not details.HasField("action"):
            return None
        dets = self.actions.list_actions(project, domain, name) or [details.action]
        return RunView(project, domain, name, [self._action(d) for d in dets], time.time())

    def _action(self, det: rd.ActionDetails) -> ActionView:
        st = det.status
        view = ActionView(
            name=det.id.name,
            parent=det.metadata.parent,
            phase=phase_name(st.phase),
            terminal=st.phase in TERMINAL_PHASES,
            task=det.metadata.task.id.name or det.metadata.task.short_name or det.task.short_name,
            start=_seconds(st.start_time, st.HasField("start_time")),
            end=_seconds(st.end_time, st.HasField("end_time")),
            attempts=st.attempts,
        )
        if det.HasField("error_info"):
            view.error_kind = rd.ErrorInfo.Kind.Name(det.error_info.kind).removeprefix("KIND_")
            view.error_message = det.error_info.message
        elif det.HasField("abort_info"):
            view.error_kind = "ABORTED"
            view.error_message = det.abort_info.reason
        key = (det.id.run.project, det.id.run.domain, det.id.run.name, det.id.name)
        data = self.actions.action_data(key)
        iface = det.task.task_template.interface if det.HasField("task") else None
        if data is not None:
            view.inputs = _named(data[0].literals, iface.inputs if iface is not None else None)
            view.outputs = _named(data[1].literals, iface.outputs if iface is not None else None)
        view.logs = self._logs(key, max(st.attempts, 1))
        return view

    def _logs(self, key: tuple[str, str, str, str], attempts: int) -> list[LogView]:
        out = []
        for attempt in range(1, attempts + 1):
            path = self.attempts.log_path(key, attempt)
            if not path.exists():
                continue
            with open(path, "rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - LOG_TAIL_BYTES))
                raw = f.read()
            out.append(LogView(attempt, raw.decode("utf-8", "replace"), size > LOG_TAIL_BYTES))
        return out

    def runs(
        self, project: str, domain: str, *, phase: str = "", task: str = "", page: int = 1, size: int = 0
    ) -> RunPage:
        """Runs of a project and domain, newest first, filtered by phase name and task name substring."""
        size = min(max(size or DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE)
        page = max(page, 1)
        # row: (project, domain, name, phase, created_at, updated_at, task_name, ...)
        window, total = self.actions.newest_runs(
            project, domain, phase=_phase_number(phase) if phase else None, task_contains=task,
            offset=(page - 1) * size, limit=size,
        )  # fmt: skip
        out = []
        for r in window:
            det = self.actions.get_action((r[0], r[1], r[2], ROOT_ACTION))
            st = det.status if det is not None else None
            out.append(
                RunRow(
                    name=r[2],
                    phase=phase_name(st.phase if st is not None else r[3]),
                    task=r[6] or "",
                    start=_seconds(st.start_time, st.HasField("start_time")) if st is not None else None,
                    end=_seconds(st.end_time, st.HasField("end_time")) if st is not None else None,
                    created=float(r[4]),
                )
            )
        return RunPage(out, total, page, size)
