"""An optional default client for scripts (``init(...)``). Integrations never use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._client import FlyteClient
from ._errors import ConfigurationError
from ._syncify import ClientBound

_default: FlyteClient | None = None


def init(endpoint: str | None = None, **options: Any) -> FlyteClient:
    """Set the default client used where no ``client=`` is passed; ``init()`` reads ``FLYTE_*``."""
    global _default
    if _default is not None:
        _default.close()
    _default = FlyteClient(endpoint, **options) if endpoint else FlyteClient.from_env(**options)
    return _default


def resolve_client(client: FlyteClient | None) -> FlyteClient:
    if client is not None:
        return client
    if _default is None:
        raise ConfigurationError("no client: pass client=FlyteClient(...) or call flyte_remote_core.init(...) first")
    return _default


@ClientBound
async def upload_file(fp: Path, verify: bool = True, *, client: FlyteClient | None = None) -> tuple[str, str]:
    """Upload a file; returns ``(md5 hex, remote URI)`` (seed API; uses the default client)."""
    return await resolve_client(client).upload_file.aio(fp, verify)


@ClientBound
async def upload_dir(dir_path: Path, verify: bool = True, *, client: FlyteClient | None = None) -> str:
    """Upload a directory keeping sub-folder paths; returns the remote URI (seed API)."""
    return await resolve_client(client).upload_dir.aio(dir_path, verify)
