"""Engine mixin for run/action persistence: reading, saving and finishing actions.

Every change is committed to the SQLite :class:`~._store.Store` and then published
on the :class:`~._events.Hub` so watch streams re-read it. Also holds restart
recovery: actions left live by a dead process are failed with ``DevserverRestarted``.
"""

from __future__ import annotations

import time

from flyteidl2.task import run_pb2 as task_run_pb2
from flyteidl2.workflow import run_definition_pb2 as rd

from ._engine_common import FAILED, KIND_SYSTEM, ROOT_ACTION, P, run_from_details, transition, ts
from ._events import Hub
from ._store import TERMINAL_PHASES, Store


class ActionStateMixin:
    """Runs and actions in the store; needs ``self.store`` and ``self.hub``."""

    store: Store
    hub: Hub

    # ------------------------------------------------------------------ runs / actions
    def _action_row(self, key: tuple) -> tuple | None:
        return self.store.one(
            "SELECT details, inputs_uri, outputs_uri FROM actions WHERE project=? AND domain=? AND run=? AND name=?",
            key,
        )

    def get_action(self, key: tuple) -> rd.ActionDetails | None:
        row = self._action_row(key)
        return rd.ActionDetails.FromString(row[0]) if row else None

    def action_uris(self, key: tuple) -> tuple[str, str] | None:
        row = self._action_row(key)
        return (row[1] or "", row[2] or "") if row else None

    def get_run_spec(self, project: str, domain: str, run: str) -> task_run_pb2.RunSpec | None:
        row = self.store.one("SELECT run_spec FROM runs WHERE project=? AND domain=? AND name=?", (project, domain, run))
        return task_run_pb2.RunSpec.FromString(row[0] or b"") if row else None

    def get_run_details(self, project: str, domain: str, run: str) -> rd.RunDetails | None:
        spec = self.get_run_spec(project, domain, run)
        if spec is None:
            return None
        det = self.get_action((project, domain, run, ROOT_ACTION))
        return rd.RunDetails(run_spec=spec, action=det)

    def get_run(self, project: str, domain: str, run: str) -> rd.Run | None:
        det = self.get_action((project, domain, run, ROOT_ACTION))
        return run_from_details(det) if det is not None else None

    def list_actions(self, project: str, domain: str, run: str) -> list[rd.ActionDetails]:
        rows = self.store.all(
            "SELECT details FROM actions WHERE project=? AND domain=? AND run=? ORDER BY created_at, name",
            (project, domain, run),
        )
        return [rd.ActionDetails.FromString(r[0]) for r in rows]

    def _save(self, det: rd.ActionDetails, *, outputs_uri: str | None = None) -> None:
        key = (det.id.run.project, det.id.run.domain, det.id.run.name, det.id.name)
        now = time.time()
        phase = det.status.phase
        blob = det.SerializeToString()
        if outputs_uri is None:
            self.store.execute(
                "UPDATE actions SET details=?, phase=?, updated_at=? WHERE project=? AND domain=? AND run=? AND name=?",
                (blob, phase, now, *key),
            )
        else:
            self.store.execute(
                "UPDATE actions SET details=?, phase=?, updated_at=?, outputs_uri=? WHERE project=? AND domain=? AND run=? AND name=?",
                (blob, phase, now, outputs_uri, *key),
            )
        if det.id.name == ROOT_ACTION:
            self.store.execute(
                "UPDATE runs SET phase=?, updated_at=? WHERE project=? AND domain=? AND name=?",
                (phase, now, key[0], key[1], key[2]),
            )
        self._publish(key)

    def _publish(self, key: tuple, *, runs: bool = True) -> None:
        self.hub.publish(("action",) + key)
        self.hub.publish(("run",) + key[:3])
        if runs:
            self.hub.publish(("runs",), key[:3])

    def recover_after_restart(self) -> int:
        """Finish every action that was not terminal when the last process died."""
        rows = self.store.all(
            "SELECT details FROM actions WHERE phase NOT IN (%s)" % ",".join(str(p) for p in TERMINAL_PHASES)
        )
        now = time.time()
        for (blob,) in rows:
            det = rd.ActionDetails.FromString(blob)
            msg = (
                "the devserver restarted while this action was "
                f"{P.ActionPhase.Name(det.status.phase).removeprefix('ACTION_PHASE_')}; it was not resumed"
            )
            err = rd.ErrorInfo(message=msg, kind=KIND_SYSTEM, code="DevserverRestarted")
            self._finish(det, FAILED, now, error=err)
            self._save(det)
        return len(rows)

    def _finish(self, det: rd.ActionDetails, phase: int, now: float, *, error=None, abort=None) -> None:
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
    def is_terminal(self, key: tuple) -> bool:
        det = self.get_action(key)
        return det is None or det.status.phase in TERMINAL_PHASES
