"""Runs and actions in the store: reading, inserting and saving.

Every change is published on the :class:`~.events.Hub`, so that watch streams re-read
it, and then written to the SQLite :class:`~.store.Store`, straight after the streams it
woke have told their clients (:meth:`~.store.Store.execute_soon`; any query runs the
write first). What a dead process left live is resumed by :mod:`.recovery`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flyteidl2.task import common_pb2, task_definition_pb2
from flyteidl2.task import run_pb2 as task_run_pb2
from flyteidl2.workflow import run_definition_pb2 as rd

from .events import RUNS_TOPIC, Hub, action_topic, run_topic
from .inputs import InputStore
from .listing import equal_terms, select_where
from .model import (
    QUEUED,
    ROOT_ACTION,
    Key,
    key_of,
    live_sql_condition,
    read_file,
    run_from_details,
)
from .store import Row, Store

# Action rows kept in memory, newest written last: a launch reads its action about six times
# while it runs (launch, each job update, the hold), and each read was a SELECT. Every write to
# the actions table goes through this class, so the copy is never stale. The bound keeps the
# actions a busy server is launching and updating (a row holds its task spec: a few KB, up to
# tens of KB for SDK tasks, so at most some tens of MB) and lets finished ones go.
ROW_CACHE_SIZE = 2048
# Runs this process created that have no nested action (yet): when such a run's root ends,
# asking for its children needs no query. Past the bound the set starts again, and the runs
# it forgot are asked about in SQL, as those of a previous process always are.
SOLO_RUNS_SIZE = 100_000

# Run rows for listing:
# (project, domain, name, phase, created_at, updated_at, task_name, task_version, trigger_name, org);
# a run's phase and last update are its root action's (the store's run_rows view).
_RUN_SELECT = (
    "SELECT project, domain, name, phase, created_at, updated_at, task_name, task_version, trigger_name, org"
    " FROM run_rows"
)


# The run-row columns (as _RUN_SELECT) from runs ``r`` joined to their root actions ``a``.
_RUN_COLUMNS = (
    "r.project, r.domain, r.name, a.phase, r.created_at, a.updated_at,"
    " r.task_name, r.task_version, r.trigger_name, r.org"
)
_ROOT_OF_RUN = "a.project = r.project AND a.domain = r.domain AND a.run = r.name"
_RUNS_WITH_ROOTS = f"FROM runs r JOIN actions a ON {_ROOT_OF_RUN} AND a.name=?"  # ? is ROOT_ACTION
_LIVE = live_sql_condition("a.phase")  # the live-actions index's condition, on the joined actions


def read_outputs(uri: str) -> common_pb2.Outputs:
    return common_pb2.Outputs.FromString(read_file(uri) or b"")


@dataclass(eq=False)
class ActionStore:
    store: Store
    hub: Hub  # every saved change is published here
    inputs: InputStore  # where the actions' inputs are read
    # key -> (details, inputs_uri, outputs_uri) as stored; see ROW_CACHE_SIZE
    _rows: dict[Key, tuple[bytes, str, str]] = field(default_factory=dict, repr=False)
    _solo_runs: set[tuple[str, str, str]] = field(default_factory=set, repr=False)  # see SOLO_RUNS_SIZE

    # ------------------------------------------------------------------ reading
    def _action_row(self, key: Key) -> tuple[bytes, str, str] | None:
        row = self._rows.get(key)
        if row is not None:
            return row
        found = self.store.one(
            "SELECT details, inputs_uri, outputs_uri FROM actions WHERE project=? AND domain=? AND run=? AND name=?",
            key,
        )
        if found is None:
            return None
        return self._remember(key, found[0], found[1] or "", found[2] or "")

    def _remember(self, key: Key, details: bytes, inputs_uri: str, outputs_uri: str) -> tuple[bytes, str, str]:
        rows = self._rows
        rows.pop(key, None)  # re-inserted last: the newest stays longest
        row = rows[key] = (details, inputs_uri, outputs_uri)
        if len(rows) > ROW_CACHE_SIZE:
            del rows[next(iter(rows))]
        return row

    def get_action(self, key: Key) -> rd.ActionDetails | None:
        row = self._action_row(key)
        return rd.ActionDetails.FromString(row[0]) if row else None

    def action_uris(self, key: Key) -> tuple[str, str] | None:
        row = self._action_row(key)
        return (row[1], row[2]) if row else None

    def action_data(self, key: Key) -> tuple[common_pb2.Inputs, common_pb2.Outputs, str, str] | None:
        """The action's inputs and outputs, and the URIs they were read from."""
        uris = self.action_uris(key)
        if uris is None:
            return None
        return self.inputs.read(uris[0]), read_outputs(uris[1]), uris[0], uris[1]

    def get_run_spec(self, project: str, domain: str, run: str) -> task_run_pb2.RunSpec | None:
        row = self.store.one(
            "SELECT run_spec FROM runs WHERE project=? AND domain=? AND name=?", (project, domain, run)
        )
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

    def may_have_nested_actions(self, project: str, domain: str, run: str) -> bool:
        """False only for a run known to have no action besides ``a0``."""
        return (project, domain, run) not in self._solo_runs

    def list_actions(self, project: str, domain: str, run: str) -> list[rd.ActionDetails]:
        rows = self.store.all(
            "SELECT details FROM actions WHERE project=? AND domain=? AND run=? ORDER BY created_at, name",
            (project, domain, run),
        )
        return [rd.ActionDetails.FromString(r[0]) for r in rows]

    def run_rows(self, conditions: Iterable[tuple[str, Any]], *, skip_empty: bool = False) -> list[Row]:
        """Run rows (see ``_RUN_SELECT``) matching ``column=value`` (empty values match all with skip_empty)."""
        return self.store.all(*select_where(_RUN_SELECT, conditions, skip_empty=skip_empty))

    def run_page(
        self, conditions: Iterable[tuple[str, Any]], *, skip_empty: bool, offset: int, limit: int
    ) -> tuple[list[Row], bool]:
        """One page of run rows in the listing's default order, and whether more follow.

        The order is the live runs first, then the ended ones, newest first in each. Only the
        page is read, not every run of the scope: a listing page used to read and sort all of
        them, which took 300-500 ms on a server that had run 50,000 runs, and stalled every
        stream meanwhile. The live runs come from the live-actions index; the ended ones from
        the runs' scope index, newest first, each joined to its root action.
        """
        terms, args = equal_terms(conditions, skip_empty=skip_empty, table="r")
        scope = "".join(f" AND {term}" for term in terms)
        live = f"FROM actions a INDEXED BY actions_live JOIN runs r ON {_ROOT_OF_RUN} WHERE a.name=? AND {_LIVE}{scope}"
        row = self.store.one(f"SELECT COUNT(*) {live}", (ROOT_ACTION, *args))
        live_count = int(row[0]) if row else 0
        rows: list[Row] = []
        if offset < live_count:
            rows = self.store.all(
                f"SELECT {_RUN_COLUMNS} {live} ORDER BY a.created_at DESC, a.run DESC LIMIT ? OFFSET ?",
                (ROOT_ACTION, *args, limit, offset),
            )
        wanted = limit - len(rows)
        if wanted <= 0 and offset + limit < live_count:
            return rows, True  # a full page of live runs, and more of them: no ended run to read yet
        ended = (
            f"SELECT {_RUN_COLUMNS} {_RUNS_WITH_ROOTS}"
            f" WHERE NOT ({_LIVE}){scope} ORDER BY r.created_at DESC, r.seq DESC LIMIT ? OFFSET ?"
        )
        more = self.store.all(ended, (ROOT_ACTION, *args, wanted + 1, max(0, offset - live_count)))
        return rows + more[:wanted], len(more) > wanted

    def newest_runs(
        self, project: str, domain: str, *, phase: int | None, task_contains: str, offset: int, limit: int
    ) -> tuple[list[Row], int]:
        """A page of a scope's run rows, newest first (the name breaks ties), of one ``phase`` if
        given and with ``task_contains`` in the task name if given; and how many runs match.

        Only the page is read, walking the runs' scope index (the console's listing read and
        sorted every run, 300 ms of the loop at 50,000 runs).
        """
        terms, scope_args = equal_terms([("project", project), ("domain", domain)], table="r")
        args: list[Any] = list(scope_args)
        if task_contains:
            terms, args = [*terms, "instr(COALESCE(r.task_name, ''), ?) > 0"], [*args, task_contains]
        if phase is not None:
            terms, args = [*terms, "a.phase=?"], [*args, phase]
        where = " AND ".join(terms)
        joined = f"{_RUNS_WITH_ROOTS} WHERE {where}"
        if phase is None:  # every run has its root action: the runs alone are counted, through the index
            total = self.store.one(f"SELECT COUNT(*) FROM runs r WHERE {where}", tuple(args))
        else:
            total = self.store.one(f"SELECT COUNT(*) {joined}", (ROOT_ACTION, *args))
        rows = self.store.all(
            f"SELECT {_RUN_COLUMNS} {joined} ORDER BY r.created_at DESC, r.name LIMIT ? OFFSET ?",
            (ROOT_ACTION, *args, limit, offset),
        )
        return rows, int(total[0]) if total else 0

    def recent_runs(self, conditions: Iterable[tuple[str, Any]], limit: int) -> list[tuple[str, str, str]]:
        """``(project, domain, name)`` of the newest runs matching the non-empty ``column=value`` pairs."""
        sql, args = select_where("SELECT project, domain, name FROM runs", conditions, skip_empty=True)
        return [tuple(r) for r in self.store.all(sql + f" ORDER BY created_at DESC LIMIT {int(limit)}", args)]

    def count_runs(self) -> int:
        row = self.store.one("SELECT COUNT(*) FROM runs")
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ writing
    def insert_run(
        self,
        det: rd.ActionDetails,
        *,
        task_id: task_definition_pb2.TaskIdentifier,
        trigger_name: str,
        run_spec: task_run_pb2.RunSpec,
        inputs_uri: str,
        inputs: bytes | None = None,
        now: float,
    ) -> bool:
        """Insert a new run and its root action ``det`` (QUEUED); False when the name is taken.

        ``inputs`` are the run's inline inputs: kept under ``inputs_uri`` in the same commit."""
        project, domain, name, _ = key_of(det)
        blob = det.SerializeToString()
        try:
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO runs (project, domain, name, org, created_at, task_name, task_version,"
                    " trigger_name, run_spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, domain, name, det.id.run.org, now, task_id.name, task_id.version,
                     trigger_name, run_spec.SerializeToString()),
                )  # fmt: skip
                db.execute(
                    "INSERT INTO actions (project, domain, run, name, created_at, updated_at, phase, inputs_uri,"
                    " outputs_uri, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, domain, name, ROOT_ACTION, now, now, QUEUED, inputs_uri, "", blob),
                )
                if inputs is not None:
                    self.inputs.add(db, inputs_uri, inputs)
        except sqlite3.IntegrityError:  # lost a race with the same name
            return False
        self._remember((project, domain, name, ROOT_ACTION), blob, inputs_uri, "")
        if len(self._solo_runs) >= SOLO_RUNS_SIZE:
            self._solo_runs.clear()
        self._solo_runs.add((project, domain, name))
        return True

    def insert_action(self, det: rd.ActionDetails, *, inputs_uri: str, outputs_uri: str = "", now: float) -> bool:
        """Insert a nested action of an existing run; False when that action already exists."""
        key = key_of(det)
        blob = det.SerializeToString()
        self._solo_runs.discard(key[:3])  # before the insert: never wrongly "solo", even if it fails
        try:
            self.store.execute(
                "INSERT INTO actions (project, domain, run, name, created_at, updated_at, phase, inputs_uri,"
                " outputs_uri, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, now, now, det.status.phase, inputs_uri, outputs_uri, blob),
            )
        except sqlite3.IntegrityError:
            return False
        self._remember(key, blob, inputs_uri, outputs_uri)
        return True

    def save(self, det: rd.ActionDetails, *, outputs_uri: str | None = None) -> None:
        """Publish the action's new state, then store it (one row: a run's phase is its root action's).

        The watch streams woken by the publish read the new state from the row cache or, past
        it, from SQL, which runs the write first (Store.execute_soon)."""
        key = key_of(det)
        blob = det.SerializeToString()
        cached = self._rows.get(key)
        if cached is not None:
            self._remember(key, blob, cached[1], cached[2] if outputs_uri is None else outputs_uri)
        self.publish(key)
        self.store.execute_soon(
            "UPDATE actions SET details=?, phase=?, updated_at=?, outputs_uri=COALESCE(?, outputs_uri)"
            " WHERE project=? AND domain=? AND run=? AND name=?",
            (blob, det.status.phase, time.time(), outputs_uri, *key),
        )

    def publish(self, key: Key, *, runs: bool = True) -> None:
        self.hub.publish(action_topic(key))
        self.hub.publish(run_topic(*key[:3]))
        if runs:
            self.hub.publish(RUNS_TOPIC, key[:3])
