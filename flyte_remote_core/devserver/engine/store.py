"""SQLite (WAL) state of the devserver: the schema and a thin connection wrapper.

Protobuf messages are stored as blobs next to the few columns that queries need
(phase, timestamps, names). The store is used from the server's event loop only
(and before it starts, to prepare the state).

The state holds secrets in plain text, so the data folder is made owner-only (0700)
when the devserver creates it and the database files are 0600 (:func:`prepare_data_dir`,
:class:`Store`). A database that SQLite cannot read, or whose quick check fails, stops
the start with :class:`StateDatabaseError`, which names the file and what to do. One
process holds the database while it serves (SQLite's exclusive locking mode): a second
devserver on the same data folder stops with :class:`DataFolderInUseError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path
from types import TracebackType
from typing import Any

from .model import LIVE_SQL_CONDITION, ROOT_ACTION

Row = Any  # a row tuple of sqlite3; its shape is the SELECT's
DB_SUFFIXES = ("", "-wal", "-shm", "-journal")  # the database and the files SQLite keeps beside it
LOCK_WAIT_MS = 5000  # how long a second process waits for the database before it gives up
# Checkpoints (copying the WAL into the database, with an fsync): SQLite makes one inside
# whichever commit takes the WAL past 1,000 pages, and that commit (a run's end, told to its
# waiters after it) took 5-7 ms longer. The devserver checkpoints once it has been quiet for a
# look interval instead (Store.checkpoint_if_quiet); SQLite's own stays as a backstop for
# writes that never pause.
QUIET_CHECKPOINT_ROWS = 500  # rows changed since the last checkpoint, before a quiet one is worth it
BACKSTOP_CHECKPOINT_PAGES = 10_000
log = logging.getLogger("flyte_remote_core.devserver")


class StateDatabaseError(RuntimeError):
    """The devserver's state database cannot be used; the message names the file and the way out."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(
            f"the devserver's state database {str(path)!r} is unusable ({problem}). Stop every devserver "
            f"using {str(path.parent)!r}, then move the file aside (with its -wal and -shm files) to keep it "
            f"for inspection, or delete them to start with fresh state (runs, tasks, secrets and triggers "
            f"recorded there are lost); or start with another --data-dir."
        )


class DataFolderInUseError(RuntimeError):
    """Another devserver process serves from the same data folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"the devserver's data folder {str(path.parent)!r} is in use by another devserver process "
            f"(its state database {path.name!r} stayed locked for {LOCK_WAIT_MS // 1000} s). Stop that "
            "devserver, or start this one with another --data-dir."
        )


def prepare_data_dir(path: Path) -> Path:
    """Create the data folder owner-only (0700); an existing one is left as is, with a warning if others can read it."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode passes through the umask; be exact
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning(
            "devserver: the data folder %s can be read by other users; it holds secrets in plain text "
            "(chmod 700 it, or use a folder of your own)", path,
        )  # fmt: skip
    return path


def _owner_only(db_path: Path) -> None:
    """The database (created now if new) and its side files: 0600, before SQLite opens them."""
    fd = os.open(db_path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for suffix in DB_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{db_path}{suffix}", 0o600)


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
    created_at REAL,
    task_name TEXT, task_version TEXT, trigger_name TEXT,
    run_spec BLOB,
    UNIQUE (project, domain, name));
CREATE INDEX IF NOT EXISTS runs_scope ON runs (project, domain, created_at);
CREATE TABLE IF NOT EXISTS actions (
    project TEXT, domain TEXT, run TEXT, name TEXT,
    created_at REAL, updated_at REAL, phase INTEGER,
    inputs_uri TEXT, outputs_uri TEXT, details BLOB,
    PRIMARY KEY (project, domain, run, name));
CREATE INDEX IF NOT EXISTS actions_live ON actions (created_at, run, name) WHERE {live};
-- A run's phase and last update are its root action's: a save writes one row.
CREATE VIEW IF NOT EXISTS run_rows AS
    SELECT runs.project AS project, runs.domain AS domain, runs.name AS name, runs.org AS org,
        runs.created_at AS created_at, actions.phase AS phase, actions.updated_at AS updated_at,
        runs.task_name AS task_name, runs.task_version AS task_version, runs.trigger_name AS trigger_name
    FROM runs JOIN actions ON actions.project = runs.project AND actions.domain = runs.domain
        AND actions.run = runs.name AND actions.name = '{root}';
CREATE TABLE IF NOT EXISTS inputs (uri TEXT PRIMARY KEY, data BLOB);
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
        _owner_only(self.path)  # SQLite gives its -wal and -shm files the database's mode
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._looked_at = self._checkpointed_at = 0  # total_changes at the last look and checkpoint
        self._soon: list[tuple[str, tuple[Any, ...]]] = []  # writes waiting for their turn (execute_soon)
        self._soon_handle: asyncio.Handle | None = None
        try:
            self._open()
        except sqlite3.DatabaseError as e:  # locked by another process; not a database, malformed, ...
            self.close()
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise DataFolderInUseError(self.path) from e
            raise StateDatabaseError(self.path, f"{type(e).__name__}: {e}") from e
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self.db.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
        # One process owns the database while it serves: its caches (engine/actions.py,
        # catalog.py, inputs.py) would miss another writer's rows, and both would resume the
        # same runs. The lock is taken once, here, and no transaction asks the file system
        # for locks again (with no -shm file, WAL keeps its index in this process's memory).
        self.db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
        self.db.execute("BEGIN IMMEDIATE")  # take the lock now, not at the first write
        self.db.execute("COMMIT")
        # Damage past the header shows only when a page is read: look before serving, not mid-run.
        found = self.db.execute("PRAGMA quick_check(1)").fetchone()
        if found is None or found[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {found[0] if found else 'no answer'}")
        self.db.executescript(_SCHEMA.format(live=LIVE_SQL_CONDITION, root=ROOT_ACTION))
        self._upgrade()

    def _upgrade(self) -> None:
        # An index of every action's phase, which no query could use (a NOT IN scans), cost
        # each save two more pages written; only the live actions are indexed now.
        self.db.execute("DROP INDEX IF EXISTS actions_phase")
        # Data folders written by earlier versions lack columns added since.
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(trigger_revisions)")}
        if "details" not in columns:
            self.db.execute("ALTER TABLE trigger_revisions ADD COLUMN details BLOB")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run_soon()
        with contextlib.suppress(Exception):
            self.db.close()

    def checkpoint_if_quiet(self) -> bool:
        """Checkpoint if rows changed since the last checkpoint but none since the last look.

        Called at a steady interval from the event loop; returns whether it checkpointed.
        """
        changes = self.db.total_changes
        if changes != self._looked_at:  # written since the last look: not quiet
            self._looked_at = changes
            return False
        if changes - self._checkpointed_at < QUIET_CHECKPOINT_ROWS:
            return False
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointed_at = changes
        return True

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self._soon:
            self._run_soon()
        return self.db.execute(sql, args)

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        return self.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        return self.execute(sql, args).fetchall()

    def transaction(self) -> _Tx:
        """``with store.transaction() as db:`` commits on success, rolls back on an error."""
        if self._soon:
            self._run_soon()
        return _Tx(self.db)

    def execute_soon(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        """Run a write once the event loop has run the callbacks already waiting in its queue.

        A change of state is published before it is written (ActionStore.save), so the watch
        streams it wakes are first in the queue and tell their clients before the write, which
        after a quiet spell costs 150-250 µs (an UPDATE and its commit, from cold caches); the
        write follows straight after them. Every other statement runs the waiting writes first,
        in order, so no query sees the state without them; so does close(). Inside a
        transaction, or with no event loop running, the write runs at once.

        The price: a process killed between the two (one turn of the loop, well under a
        millisecond) loses a change its watchers heard of, and the restart resumes the action
        from its written state (recovery). The devserver accepts that for a wait that returns
        a quarter sooner; SQLite's synchronous=NORMAL already gives up the last commits to a
        power cut.
        """
        if self.db.in_transaction:
            self.execute(sql, args)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.execute(sql, args)
            return
        self._soon.append((sql, args))
        if self._soon_handle is None:
            self._soon_handle = loop.call_soon(self._run_soon)

    def _run_soon(self) -> None:
        """Run the waiting writes, in one commit when there are several (a burst of ends)."""
        if self._soon_handle is not None:
            self._soon_handle.cancel()  # when a statement ran them first
            self._soon_handle = None
        writes, self._soon = self._soon, []
        if len(writes) > 1:
            with contextlib.suppress(sqlite3.Error), _Tx(self.db) as db:
                for sql, args in writes:
                    db.execute(sql, args)
                return
            if self.db.in_transaction:  # the COMMIT itself failed
                self.db.execute("ROLLBACK")
            # one at a time, so that only the write that fails is missed
        for sql, args in writes:
            try:
                self.db.execute(sql, args)
            except sqlite3.Error as e:
                # Raised, it would reach whichever statement came next, or the loop's handler.
                log.error(
                    "devserver: a state change could not be written to %s (%s: %s); the database "
                    "keeps the state before it", self.path, type(e).__name__, e,
                )  # fmt: skip


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
