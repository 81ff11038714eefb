"""An optional default client for scripts (``init(...)``) and the seed's module-level uploads.

Integrations never use it: they pass explicit clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._client import FlyteClient
from ._default_client import resolve_client, set_default_client
from ._syncify import ClientBound


def init(endpoint: str | None = None, **options: Any) -> FlyteClient:
    """Set the default client used where no ``client=`` is passed; ``init()`` reads ``FLYTE_*``."""
    client = FlyteClient(endpoint, **options) if endpoint else FlyteClient.from_env(**options)
    previous = set_default_client(client)
    if previous is not None:
        previous.close()
    return client


@ClientBound
async def upload_file(fp: Path, verify: bool = True, *, client: FlyteClient | None = None) -> tuple[str, str]:
    """Upload a file; returns ``(md5 hex, remote URI)`` (seed API; uses the default client)."""
    return await resolve_client(client).upload_file.aio(fp, verify)  # type: ignore[no-any-return]


@ClientBound
async def upload_dir(dir_path: Path, verify: bool = True, *, client: FlyteClient | None = None) -> str:
    """Upload a directory keeping sub-folder paths; returns the remote URI (seed API)."""
    return await resolve_client(client).upload_dir.aio(dir_path, verify)  # type: ignore[no-any-return]
