"""SQLite (WAL) state of the devserver: the schema and a thin connection wrapper.

Protobuf messages are stored as blobs next to the few columns that queries need
(phase, timestamps, names). The store is used from the server's event loop only
(and before it starts, to prepare the state).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any

Row = Any  # a row tuple of sqlite3; its shape is the SELECT's

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, created_at REAL, blob BLOB);
CREATE TABLE IF NOT EXISTS tasks (
    project TEXT, domain TEXT, name TEXT, version TEXT, org TEXT,
    created_at REAL, spec BLOB, module TEXT, function TEXT,
    PRIMARY KEY (project, domain, name, version));
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT, domain TEXT, name TEXT, org TEXT,
    created_at REAL, updated_at REAL, phase INTEGER,
    task_name TEXT, task_version TEXT, trigger_name TEXT,
    run_spec BLOB,
    UNIQUE (project, domain, name));
CREATE INDEX IF NOT EXISTS runs_scope ON runs (project, domain, created_at);
CREATE TABLE IF NOT EXISTS actions (
    project TEXT, domain TEXT, run TEXT, name TEXT,
    created_at REAL, updated_at REAL, phase INTEGER,
    inputs_uri TEXT, outputs_uri TEXT, details BLOB,
    PRIMARY KEY (project, domain, run, name));
CREATE INDEX IF NOT EXISTS actions_phase ON actions (phase);
CREATE TABLE IF NOT EXISTS secrets (
    project TEXT, domain TEXT, name TEXT, org TEXT, created_at REAL, spec BLOB,
    PRIMARY KEY (org, project, domain, name));
CREATE TABLE IF NOT EXISTS triggers (
    project TEXT, domain TEXT, task_name TEXT, name TEXT, org TEXT,
    revision INTEGER, active INTEGER, created_at REAL, updated_at REAL,
    last_fired REAL, details BLOB,
    PRIMARY KEY (project, domain, task_name, name));
CREATE TABLE IF NOT EXISTS trigger_revisions (
    project TEXT, domain TEXT, task_name TEXT, name TEXT, revision INTEGER,
    action INTEGER, created_at REAL, details BLOB,
    PRIMARY KEY (project, domain, task_name, name, revision));
"""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)
        self._upgrade()

    def _upgrade(self) -> None:
        # Data folders written by earlier versions lack columns added since.
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(trigger_revisions)")}
        if "details" not in columns:
            self.db.execute("ALTER TABLE trigger_revisions ADD COLUMN details BLOB")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, args)

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        return self.db.execute(sql, args).fetchall()

    def transaction(self) -> _Tx:
        """``with store.transaction() as db:`` commits on success, rolls back on an error."""
        return _Tx(self.db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
        return self.db

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
