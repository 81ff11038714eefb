"""Shared pieces of the devserver's auth: constants, grant records, digests, errors, expiry.

Secrets, tokens and device codes are only ever stored as SHA-256 digests (:func:`digest`).
:class:`Janitor` forgets expired tokens and device sign-ins on one schedule for all of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Services a caller must reach before it has a token.
PUBLIC_PATHS = ("/flyteidl2.auth.AuthMetadataService/", "/grpc.health.v1.Health/")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Clock = Callable[[], float]  # wall-clock seconds; tests inject a fake one


class InvalidClientError(ValueError):
    """Unknown client id or wrong secret."""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Grant:
    subject: str
    name: str
    expires_at: float  # clock() seconds


@dataclass(frozen=True)
class Issuer:
    """What the auth services advertise about this server."""

    base_url: str
    scopes: tuple[str, ...]
    public_client_id: str
    audience: str


class Janitor:
    """Forgets expired entries of every table that signed up, at most once a second unless forced."""

    def __init__(self, clock: Clock) -> None:
        self._last = clock()
        self._sweeps: list[Callable[[float], None]] = []

    def add(self, sweep: Callable[[float], None]) -> None:
        """``sweep(now)`` drops what expired by ``now`` (called with the auth lock held)."""
        self._sweeps.append(sweep)

    def sweep_locked(self, now: float, *, force: bool = False) -> None:
        """Run every sweep (the caller holds the auth lock); done on every issue, throttled."""
        if not force and now - self._last < 1.0:
            return
        self._last = now
        for sweep in self._sweeps:
            sweep(now)
