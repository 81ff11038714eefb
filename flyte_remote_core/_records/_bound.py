"""The services a record does its I/O through: its own, or the default client's (seed style)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._default_client import resolve_client

if TYPE_CHECKING:
    from .._services import Services


class BoundRecord:
    """A record holding the :class:`Services` it came from.

    Records built by hand (``Run(pb2)``, as in ``flyte.remote``) have none and use the
    default client set by ``init()``; a clear error says so when there is none.
    """

    _services: Services | None

    def _require(self) -> Services:
        if self._services is None:
            self._services = default_services()
        return self._services


def default_services() -> Any:
    return resolve_client(None).services
