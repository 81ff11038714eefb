"""Token sources: where a bearer token comes from, cached in memory.

A source may be shared by channels on several event loops (the client opens one
channel per loop), so the cache is plain data and the refresh lock is per loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
import weakref
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import grpc

from ..._errors import AuthenticationError, ConfigurationError, redact

__all__ = ["CachedTokenSource", "CommandToken", "StaticToken", "TokenSource", "jwt_expiry"]


@runtime_checkable
class TokenSource(Protocol):
    async def token(self, *, refresh: bool = False) -> str: ...


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, or None when ``token`` is not one.

    Only read to schedule a refresh; the signature is the server's business.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
        return float(exp) if isinstance(exp, (int, float)) else None
    except (ValueError, TypeError):
        return None


class CachedTokenSource:
    """Caches the token from :meth:`_fetch` and refreshes it ahead of expiry.

    The refresh starts ``min(refresh_margin, 10% of the lifetime)`` before the
    expiry, so a call never leaves with a token that is about to die in flight.
    """

    header_name: str | None = None  # a source may learn the header from the server

    def __init__(self, *, refresh_margin: float = 60.0) -> None:
        self._refresh_margin = refresh_margin
        self._token: str | None = None
        self._refresh_at = 0.0  # time.monotonic() after which the token is stale
        self._generation = 0  # bumped by every fetch; lets waiters reuse a fresh result
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.fetch_count = 0

    async def _fetch(self) -> tuple[str, float | None]:
        """Return ``(token, lifetime in seconds or None for no known expiry)``."""
        raise NotImplementedError

    def _fresh(self) -> bool:
        return self._token is not None and time.monotonic() < self._refresh_at

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def token(self, *, refresh: bool = False) -> str:
        if not refresh and self._fresh():
            return self._token  # type: ignore[return-value]
        seen = self._generation
        async with self._lock():
            # Someone refreshed while we waited: a forced refresh (after an
            # UNAUTHENTICATED) is satisfied by any token newer than the one we saw.
            if self._token is not None and (self._generation != seen or (not refresh and self._fresh())):
                return self._token
            token, lifetime = await self._fetch()
            if not token:
                raise AuthenticationError(
                    "the credential source returned an empty token", code=grpc.StatusCode.UNAUTHENTICATED
                )
            self.fetch_count += 1
            self._generation += 1
            self._token = token
            if lifetime is None:
                self._refresh_at = float("inf")
            else:
                self._refresh_at = time.monotonic() + lifetime - min(self._refresh_margin, 0.1 * lifetime)
            return token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={'***' if self._token else None})"


class StaticToken(CachedTokenSource):
    """A fixed bearer token (a refresh returns the same token)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        if not token or not token.strip():
            raise ConfigurationError("the static token is empty")
        self.__value = token.strip()

    async def _fetch(self) -> tuple[str, float | None]:
        return self.__value, None


class CommandToken(CachedTokenSource):
    """Runs ``argv`` and takes the last non-empty line it prints as the token.

    The token is reused until its JWT ``exp`` nears or, for opaque tokens, for
    ``ttl`` seconds; ``token(refresh=True)`` runs the command again.
    """

    def __init__(self, argv: Sequence[str], *, ttl: float = 300.0, timeout: float = 60.0) -> None:
        super().__init__()
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
            raise ConfigurationError("a token command must be a non-empty list of strings (argv)")
        self._argv = list(argv)
        self._ttl = ttl
        self._timeout = timeout

    def _run(self) -> str:
        # A thread with subprocess.run works under any event loop and any thread;
        # asyncio subprocesses need a child watcher on some loops.
        name = self._argv[0]
        try:
            done = subprocess.run(self._argv, capture_output=True, text=True, timeout=self._timeout, check=False)
        except FileNotFoundError:
            raise ConfigurationError(f"token command {name!r} was not found") from None
        except subprocess.TimeoutExpired:
            raise AuthenticationError(f"token command {name!r} did not finish within {self._timeout:g} s") from None
        if done.returncode != 0:
            stderr = redact((done.stderr or "").strip()[-500:], done.stdout.strip())
            raise AuthenticationError(
                f"token command {name!r} exited with status {done.returncode}" + (f": {stderr}" if stderr else ""),
                code=grpc.StatusCode.UNAUTHENTICATED,
            )
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if not lines:
            raise AuthenticationError(f"token command {name!r} printed no token", code=grpc.StatusCode.UNAUTHENTICATED)
        return lines[-1]

    async def _fetch(self) -> tuple[str, float | None]:
        token = await asyncio.to_thread(self._run)
        exp = jwt_expiry(token)
        return token, (max(exp - time.time(), 0.0) if exp is not None else self._ttl)

    def __repr__(self) -> str:  # arguments may carry secrets: show the program only
        return f"CommandToken(argv=[{self._argv[0]!r}, ...], token={'***' if self._token else None})"
