"""Read and write whole objects by URI.

``file://`` URIs and plain local paths are handled here with the standard library, so
the devserver and tests need nothing else. Every other scheme (``s3://``, ``gs://``,
``abfs://``, ...) goes through ``fsspec`` when it is importable; the scheme's driver
(``s3fs``, ``gcsfs``, ``adlfs``) must be installed as well. Any failure becomes a
:class:`~flyte_remote_core._errors.StorageError` that names the URI.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from urllib.parse import unquote, urlparse

from .._errors import StorageError

__all__ = ["local_path", "read_uri", "read_uri_async", "write_uri", "write_uri_async"]

# Drivers fsspec needs for the common object stores, to make the error message actionable.
_DRIVERS = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "az": "adlfs",
}


def local_path(uri: str) -> str | None:
    """The local filesystem path of ``uri``, or ``None`` if it is not a local URI."""
    if "://" not in uri:
        # A plain path (absolute or relative). "C:\\..." style paths never reach this code
        # on the platforms we support, so a missing scheme always means "local".
        return uri
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    if parsed.netloc not in ("", "localhost"):
        raise StorageError(f"cannot use {uri!r}: file:// URIs on another host ({parsed.netloc!r}) are not supported")
    return unquote(parsed.path)


def _fsspec_open(uri: str, mode: str):  # type: ignore[no-untyped-def]
    scheme = uri.split("://", 1)[0]
    driver = _DRIVERS.get(scheme)
    hint = f"pip install fsspec {driver}" if driver else f"pip install fsspec and the fsspec driver for {scheme}://"
    try:
        import fsspec
    except ImportError:
        raise StorageError(f"cannot access {uri!r}: the {scheme}:// scheme needs fsspec ({hint})") from None
    try:
        return fsspec.open(uri, mode)
    except ImportError as e:  # fsspec knows the scheme but its driver is missing
        raise StorageError(f"cannot access {uri!r}: the {scheme}:// driver is not installed ({hint}): {e}") from e
    except ValueError as e:  # "Protocol not known"
        raise StorageError(f"cannot access {uri!r}: fsspec does not know the {scheme}:// scheme ({hint}): {e}") from e


def read_uri(uri: str) -> bytes:
    """Return the bytes stored at ``uri``."""
    path = local_path(uri)
    try:
        if path is not None:
            with open(path, "rb") as f:
                data: bytes = f.read()
            return data
        with _fsspec_open(uri, "rb") as f:
            remote: bytes = f.read()
        return remote
    except StorageError:
        raise
    except FileNotFoundError as e:
        raise StorageError(f"cannot read {uri!r}: no such object") from e
    except Exception as e:  # permissions, network, credentials: keep the cause, name the URI
        raise StorageError(f"cannot read {uri!r}: {type(e).__name__}: {e}") from e


def write_uri(uri: str, data: bytes) -> None:
    """Store ``data`` at ``uri``, replacing what was there.

    Local writes create parent directories and are atomic (write to a temporary file,
    then rename), so a concurrent reader never sees a half-written object.
    """
    path = local_path(uri)
    try:
        if path is not None:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            return
        with _fsspec_open(uri, "wb") as f:
            f.write(data)
    except StorageError:
        raise
    except Exception as e:
        raise StorageError(f"cannot write {uri!r}: {type(e).__name__}: {e}") from e


async def read_uri_async(uri: str) -> bytes:
    """:func:`read_uri` in a worker thread, so an event loop is never blocked on I/O."""
    return await asyncio.to_thread(read_uri, uri)


async def write_uri_async(uri: str, data: bytes) -> None:
    """:func:`write_uri` in a worker thread."""
    await asyncio.to_thread(write_uri, uri, data)
