"""Run inputs on disk, content-addressed: ``<storage>/inputs/<project>/<domain>/<sha256>.pb``.

CreateRun's inline inputs and UploadInputs' uploads both land here, so identical inputs
share one file. Storing inputs costs a launch one small write: the folder of a project and
domain is made once, never per run (making a folder costs this machine about five times
what writing a small file does). Each put writes its file again, beside its name, and
renames it into place: a reader (the task's worker) never sees half of it, and a file
deleted meanwhile comes back with the next run that needs it.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .model import file_uri

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_part(text: str) -> str:
    """``text`` as one path component: no separators, no ``.`` or ``..``."""
    text = _UNSAFE.sub("_", text)
    return text if text not in ("", ".", "..") else "_"


class InputFiles:
    def __init__(self, storage_dir: Path) -> None:
        self._root = os.path.join(os.fspath(storage_dir), "inputs")
        self._folders: dict[tuple[str, str], str] = {}

    def put(self, project: str, domain: str, data: bytes) -> tuple[str, str]:
        """Store serialized inputs; returns their ``file://`` URI and their sha256 digest."""
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self._folder(project, domain), digest + ".pb")
        try:
            _write_file(path, data)
        except FileNotFoundError:  # the folder went away under us (a test wiped the data dir)
            del self._folders[(project, domain)]
            path = os.path.join(self._folder(project, domain), digest + ".pb")
            _write_file(path, data)
        return file_uri(path), digest

    def _folder(self, project: str, domain: str) -> str:
        folder = self._folders.get((project, domain))
        if folder is None:
            folder = os.path.join(self._root, safe_part(project), safe_part(domain))
            os.makedirs(folder, exist_ok=True)
            self._folders[(project, domain)] = folder
        return folder


def _write_file(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)
