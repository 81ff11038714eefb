"""Uploads through the data proxy: ask for a signed URL, then PUT the bytes with Content-MD5."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import random
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flyteidl2.dataproxy import dataproxy_service_pb2

from .._errors import ConfigurationError, StorageError, redact

if TYPE_CHECKING:
    import httpx

    from ._protocol import Services

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_ATTEMPTS = 5


def _md5(path: Path) -> bytes:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("retry-after")
    if header:
        try:
            return min(30.0, max(0.0, float(header)))
        except ValueError:
            pass
        try:  # the HTTP-date form
            when = email.utils.parsedate_to_datetime(header)
            return min(30.0, max(0.0, when.timestamp() - time.time()))
        except (TypeError, ValueError):
            pass
    return random.uniform(0, min(5.0, 0.2 * 2**attempt))


async def put_signed(
    url: str, path: Path, md5: bytes, headers: dict[str, str], *, verify: bool | ssl.SSLContext
) -> None:
    """PUT a file to a signed URL, retrying 408/429/5xx and honouring Retry-After."""
    import httpx  # here: httpx (and the CLI it loads) took a third of a fresh client's import time

    data = path.read_bytes()
    send_headers = {"Content-MD5": base64.b64encode(md5).decode(), "Content-Length": str(len(data)), **headers}
    async with httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(60.0, connect=10.0)) as http:
        for attempt in range(_ATTEMPTS):
            try:
                response = await http.put(url, content=data, headers=send_headers)
            except httpx.TransportError as exc:
                # A certificate that does not verify will not verify on the next try either.
                if attempt + 1 == _ATTEMPTS or "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise StorageError(
                        f"uploading {path} failed: {type(exc).__name__}: {redact(str(exc)[:200])}"
                    ) from None
                await asyncio.sleep(random.uniform(0, 0.2 * 2**attempt))
                continue
            if response.status_code < 300:
                return
            if response.status_code in _RETRY_STATUS and attempt + 1 < _ATTEMPTS:
                await asyncio.sleep(_retry_after(response, attempt))
                continue
            # The URL carries a signature: never put it in the message.
            raise StorageError(
                f"uploading {path} failed with HTTP {response.status_code}: {redact(response.text[:200])}"
            )


async def upload_file(
    services: Services,
    fp: Path | str,
    *,
    verify: bool = True,
    filename_root: str | None = None,
    filename: str | None = None,
) -> tuple[str, str]:
    """Upload one file; returns ``(md5 hex digest, remote URI)``."""
    path = Path(fp)
    if not path.is_file():
        raise ConfigurationError(f"upload_file: {str(path)!r} is not a file")
    md5 = await asyncio.to_thread(_md5, path)
    request = dataproxy_service_pb2.CreateUploadLocationRequest(
        project=services.scope.project,
        domain=services.scope.domain,
        org=services.scope.org,
        filename=filename or path.name,
        filename_root=filename_root or "",
        content_md5=md5,
        content_length=path.stat().st_size,
    )
    location = await services.data.create_upload_location(request, entity=f"upload of {path.name}")
    await put_signed(location.signed_url, path, md5, dict(location.headers), verify=services.http_verify(verify))
    return md5.hex(), location.native_url


async def upload_dir(services: Services, dir_path: Path | str, *, verify: bool = True) -> str:
    """Upload a directory tree, keeping sub-folder paths; returns the remote directory URI."""
    root = Path(dir_path)
    if not root.is_dir():
        raise ConfigurationError(f"upload_dir: {str(root)!r} is not a directory")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    # One root per upload, derived from the content, so the same tree lands in the same place.
    tree = hashlib.md5()
    for p in files:
        tree.update(p.relative_to(root).as_posix().encode())
        tree.update(await asyncio.to_thread(_md5, p))
    filename_root = f"dir-{tree.hexdigest()}"
    sem = asyncio.Semaphore(8)

    async def one(p: Path) -> str:
        async with sem:
            rel = p.relative_to(root).as_posix()
            _, uri = await upload_file(services, p, verify=verify, filename_root=filename_root, filename=rel)
            return uri.removesuffix(rel)

    prefixes = await asyncio.gather(*(one(p) for p in files))
    if not prefixes:
        raise ConfigurationError(f"upload_dir: {str(root)!r} has no files")
    return prefixes[0]
