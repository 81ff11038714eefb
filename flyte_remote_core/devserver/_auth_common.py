"""Shared pieces of the devserver's auth: grant records, digests, errors, constants.

Secrets, tokens and device codes are only ever stored as SHA-256 digests (:func:`_digest`).
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


class InvalidClientError(ValueError):
    """Unknown client id or wrong secret."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class _Grant:
    subject: str
    name: str
    expires_at: float  # time.time()

