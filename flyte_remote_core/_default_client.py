"""The optional process default client (set by ``init()``), for the seed's class-level calls.

It sits at the bottom of the house so that records (``Task.get``, ``Run.get``) can reach the
default without importing the client; ``_default.init`` above sets it.
"""

from __future__ import annotations

from typing import Any

from ._errors import ConfigurationError

_default: Any = None


def set_default_client(client: Any) -> Any:
    """Make ``client`` the default; returns the previous one (the caller closes it)."""
    global _default
    previous, _default = _default, client
    return previous


def resolve_client(client: Any = None) -> Any:
    """``client`` if given, else the default set by ``init()``; a clear error when there is neither."""
    if client is not None:
        return client
    if _default is None:
        raise ConfigurationError("no client: pass client=FlyteClient(...) or call flyte_remote_core.init(...) first")
    return _default
