"""Access and refresh tokens: issued, checked, rotated, revoked and expired, kept as digests.

Access tokens live ``lifetime`` seconds, refresh tokens ``refresh_lifetime`` (rotated on
use). Issuing a token also lets the :class:`~.grants.Janitor` forget what expired.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from .grants import Clock, Grant, Janitor, digest


@dataclass(eq=False, kw_only=True)
class TokenBook:
    lock: threading.Lock  # the auth lock, shared by every part
    clock: Clock
    janitor: Janitor
    lifetime: float
    refresh_lifetime: float
    scopes: tuple[str, ...]
    access: dict[str, Grant] = field(default_factory=dict, init=False)  # digest(access token) -> grant
    refresh: dict[str, Grant] = field(default_factory=dict, init=False)  # digest(refresh token) -> grant
    issued: int = field(default=0, init=False)  # access tokens issued, for tests and metrics

    def __post_init__(self) -> None:
        self.janitor.add(self._sweep_locked)

    def issue(self, subject: str, name: str, *, refresh: bool = False) -> dict[str, Any]:
        """A new access token (and refresh token) for ``subject``, as the RFC 6749 JSON answer."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        with self.lock:
            self.janitor.sweep_locked(now)
            self.access[digest(token)] = Grant(subject, name, now + self.lifetime)
            self.issued += 1
            if refresh:
                rt = secrets.token_urlsafe(32)
                self.refresh[digest(rt)] = Grant(subject, name, now + self.refresh_lifetime)
                body["refresh_token"] = rt
        if self.scopes:
            body["scope"] = " ".join(self.scopes)
        return body

    def grant_for(self, token: str) -> Grant | None:
        with self.lock:
            grant = self.access.get(digest(token))
            if grant is not None and grant.expires_at <= self.clock():
                del self.access[digest(token)]
                return None
            return grant

    def token_from_header(self, value: str | None) -> str | None:
        """The token of an ``authorization: Bearer <token>`` value, if it is live."""
        if not value:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        return token if self.grant_for(token) is not None else None

    def use_refresh(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        """The refresh-token grant: a new pair (the old refresh token is spent) or an RFC 6749 error."""
        with self.lock:
            grant = self.refresh.pop(digest(refresh_token), None)
        if grant is None or grant.expires_at <= self.clock():
            return 400, {"error": "invalid_grant", "error_description": "unknown or expired refresh token"}
        return 200, self.issue(grant.subject, grant.name, refresh=True)  # rotated

    def revoke_all(self) -> None:
        with self.lock:
            self.access.clear()
            self.refresh.clear()

    def drop_subject_locked(self, subject: str) -> None:
        """Forget every token of ``subject`` (the caller holds the auth lock)."""
        for table in (self.access, self.refresh):
            for key in [k for k, g in table.items() if g.subject == subject]:
                del table[key]

    def _sweep_locked(self, now: float) -> None:
        for table in (self.access, self.refresh):
            for key in [k for k, g in table.items() if g.expires_at <= now]:
                del table[key]
