"""A devserver's options, checked once: :class:`ServerConfig`. Standard library only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DUPLICATE_MODES = ("return-existing", "already-exists")
HYPERCORN_STREAM_CEILING = 1000  # hypercorn kills the connection past this (TooManyStreamsError)
MAX_STREAMS_LIMIT = 900
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024**3  # one signed-URL PUT; the body streams to disk, so this bounds disk only


def default_data_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("flyte-devserver", appauthor=False))
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        return Path(base) / "flyte-devserver"


def check_options(
    duplicate_run_names: str,
    max_concurrent_streams: int,
    tls_cert: str | os.PathLike[str] | None,
    tls_key: str | os.PathLike[str] | None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> None:
    """Refuse a bad combination of DevServer options (ValueError), before anything starts."""
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be a positive number of bytes, got {max_upload_bytes!r}")
    if duplicate_run_names not in DUPLICATE_MODES:
        raise ValueError(f"duplicate_run_names must be one of {DUPLICATE_MODES}, got {duplicate_run_names!r}")
    if not 1 <= int(max_concurrent_streams) <= MAX_STREAMS_LIMIT:
        raise ValueError(
            f"max_concurrent_streams must be between 1 and {MAX_STREAMS_LIMIT} (hypercorn drops a whole "
            f"connection at {HYPERCORN_STREAM_CEILING} streams), got {max_concurrent_streams}"
        )
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together")


@dataclass(frozen=True)
class ServerConfig:
    """What a :class:`~.devserver.DevServer` was asked for, checked and normalised (see its constructor)."""

    tasks: tuple[Any, ...]
    host: str
    port: int  # 0: a free port, picked at start
    data_dir: Path
    project: str
    domain: str
    auth: bool
    tls_cert: str | None
    tls_key: str | None
    duplicate_run_names: str
    max_concurrent_streams: int
    workers: int
    sdk_python: str | None = None  # runs deployed Flyte specs; None: the devserver's Python if it has flyte
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # larger signed-URL PUTs are answered 413

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
