"""Run inputs, content-addressed: kept in the state database, a file only where a path is read.

CreateRun's inline inputs and UploadInputs' uploads both land here, so identical inputs
share one row. Each has a URI of its own, ``<storage>/inputs/<project>/<domain>/<sha256>.pb``,
as a blob store would give, but the file behind it is written only when a URI is handed
out (UploadInputs, GetActionData's and GetActionDataURIs' answers) or a task reads the path
(the SDK runtime: its runner writes it, from ``Job.inputs``). The worker pool's tasks
decode the bytes they are handed, so inline inputs usually never become a file.

Why not a file per put: creating a file is the costliest step of a launch on this kind of
disk (50 µs to 1 ms of the serving loop's time, by the load on the file system), while the
row is one small INSERT. Inputs written as files by earlier versions, and files that tasks
write for their nested actions, are read from their paths as before.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from pathlib import Path

from flyteidl2.task import common_pb2

from ..execution.interface import write_missing_file
from .model import file_uri, read_file, uri_to_path
from .store import Store

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

# Inputs kept in memory after a put or a read, by total size: a launch reads the inputs it
# was just given without a query. A restart, a retry after the entry left, or a reader of an
# old run asks SQL.
CACHE_BYTES = 8 << 20
_CACHE_ENTRY_MAX = 256 << 10


def safe_part(text: str) -> str:
    """``text`` as one path component: no separators, no ``.`` or ``..``."""
    text = _UNSAFE.sub("_", text)
    return text if text not in ("", ".", "..") else "_"


class InputStore:
    def __init__(self, store: Store, storage_dir: Path) -> None:
        self._store = store
        self._root = os.path.join(os.fspath(storage_dir), "inputs")
        self._cache: dict[str, bytes] = {}  # uri -> serialized Inputs, oldest first
        self._cached_bytes = 0

    def address(self, project: str, domain: str, data: bytes) -> tuple[str, str]:
        """The ``file://`` URI and the sha256 digest that serialized inputs are kept under."""
        digest = hashlib.sha256(data).hexdigest()
        return file_uri(os.path.join(self._root, safe_part(project), safe_part(domain), digest + ".pb")), digest

    def put(self, project: str, domain: str, data: bytes) -> tuple[str, str]:
        """Store serialized inputs; returns their ``file://`` URI and their sha256 digest."""
        uri, digest = self.address(project, domain, data)
        self.add(self._store, uri, data)
        return uri, digest

    def add(self, db: sqlite3.Connection | Store, uri: str, data: bytes) -> None:
        """Store inputs under ``uri`` (from :meth:`address`) with ``db``: a caller's open
        transaction (a run and its inputs are one commit), or the store itself (which runs
        its waiting writes first, as every statement of it does)."""
        db.execute("INSERT OR IGNORE INTO inputs (uri, data) VALUES (?, ?)", (uri, data))
        self._remember(uri, data)

    def data(self, uri: str) -> bytes | None:
        """The serialized inputs behind ``uri`` when they were put here; None for other URIs."""
        data = self._cache.get(uri)
        if data is not None:
            return data
        row = self._store.one("SELECT data FROM inputs WHERE uri=?", (uri,))
        if row is None:
            return None
        return self._remember(uri, bytes(row[0]))

    def read(self, uri: str) -> common_pb2.Inputs:
        """The inputs behind ``uri``: held here, else the file; empty when there is neither."""
        data = self.data(uri) if uri else None
        if data is None:
            data = read_file(uri)
        return common_pb2.Inputs.FromString(data or b"")

    def materialize(self, uri: str) -> None:
        """Write the file behind ``uri`` if it is held here and not on disk: its URI is being handed out."""
        data = self.data(uri) if uri else None
        path = uri_to_path(uri) if data is not None else None
        if data is not None and path is not None:
            write_missing_file(path, data)

    def _remember(self, uri: str, data: bytes) -> bytes:
        if len(data) > _CACHE_ENTRY_MAX or uri in self._cache:
            return data
        self._cache[uri] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > CACHE_BYTES:
            oldest = next(iter(self._cache))
            self._cached_bytes -= len(self._cache.pop(oldest))
        return data
