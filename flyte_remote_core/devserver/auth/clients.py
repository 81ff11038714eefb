"""Confidential clients (client id and secret), kept in memory; the registrations may be persisted.

Only the registrations are state worth keeping (never tokens): ``on_change`` is called
with a JSON-safe dict after every change, and ``state=`` restores one.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from typing import Any

from .grants import InvalidClientError, digest


class ClientBook:
    def __init__(
        self,
        *,
        lock: threading.Lock,
        state: dict[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._lock = lock
        self._on_change = on_change
        # client_id -> {"name", "secret_sha256"}
        self._clients: dict[str, dict[str, str]] = dict((state or {}).get("clients", {}))

    def create(self, name: str) -> tuple[str, str]:
        """Register a confidential client; returns ``(client_id, client_secret)``."""
        client_id = f"{name}-{secrets.token_hex(4)}"
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._clients[client_id] = {"name": name, "secret_sha256": digest(secret)}
        self.changed()
        return client_id, secret

    def verify(self, client_id: str, client_secret: str) -> dict[str, str]:
        """The client's record; raises :class:`InvalidClientError`."""
        with self._lock:
            client = self._clients.get(client_id)
        # compare_digest on digests of equal length: no timing hint about the secret
        if client is None or not hmac.compare_digest(client["secret_sha256"], digest(client_secret or "")):
            raise InvalidClientError("unknown client or wrong secret")
        return client

    def remove_locked(self, client_id: str) -> None:
        self._clients.pop(client_id, None)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"clients": {k: dict(v) for k, v in self._clients.items()}}

    def changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.state())
