"""The OAuth 2.0 device authorization grant (RFC 8628): pending device sign-ins.

A CLI asks for a device code (``POST /oauth2/device/code``), a person approves the
user code (:meth:`DeviceFlow.approve`, the devserver's stand-in for a browser
sign-in), and the CLI polls ``/oauth2/token`` until it gets a token.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from .grants import Clock, Janitor, digest
from .tokens import TokenBook

_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no accidental words
# An expired request is kept this long after its ``expires_in`` so that a client still
# polling hears ``expired_token`` (RFC 8628 3.5) rather than ``invalid_grant``; then it is dropped.
EXPIRED_DEVICE_GRACE_S = 60.0


@dataclass
class DeviceRequest:
    client_id: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float = 0.0
    subject: str | None = None  # set on approval
    denied: bool = False


@dataclass(eq=False, kw_only=True)
class DeviceFlow:
    lock: threading.Lock  # the auth lock, shared by every part
    clock: Clock
    janitor: Janitor
    tokens: TokenBook  # issues the token once a sign-in is approved
    base_url: str  # of the verification URI
    code_lifetime: float
    poll_interval: float
    requests: dict[str, DeviceRequest] = field(default_factory=dict, init=False)  # digest(device_code) -> request

    def __post_init__(self) -> None:
        self.janitor.add(self._sweep_locked)

    def _sweep_locked(self, now: float) -> None:
        """Drop requests that expired over ``EXPIRED_DEVICE_GRACE_S`` ago (caller holds the lock).

        A request is also dropped as soon as it is used: a token was issued, or the client
        heard ``access_denied`` or ``expired_token``.
        """
        for key in [k for k, r in self.requests.items() if r.expires_at + EXPIRED_DEVICE_GRACE_S <= now]:
            del self.requests[key]

    # -- device flow ----------------------------------------------------------

    def approve(self, user_code: str, *, subject: str = "dev-user") -> bool:
        """Confirm a pending device sign-in as ``subject`` (what a person does in the browser)."""
        code = user_code.replace("-", "").upper()
        with self.lock:
            now = self.clock()
            for req in self.requests.values():
                if req.user_code.replace("-", "") == code and req.expires_at > now and not req.denied:
                    req.subject = subject
                    return True
        return False

    def deny(self, user_code: str) -> bool:
        code = user_code.replace("-", "").upper()
        with self.lock:
            now = self.clock()
            for req in self.requests.values():
                if req.user_code.replace("-", "") == code and req.expires_at > now:
                    req.denied = True
                    return True
        return False

    def pending_user_codes(self) -> list[str]:
        with self.lock:
            now = self.clock()
            return [
                r.user_code for r in self.requests.values() if r.subject is None and not r.denied and r.expires_at > now
            ]

    def start(self, client_id: str) -> dict[str, Any]:
        """A new device sign-in for ``client_id``: the RFC 8628 device authorization answer."""
        device_code = secrets.token_urlsafe(32)
        raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{raw[:4]}-{raw[4:]}"
        with self.lock:
            now = self.clock()
            self.janitor.sweep_locked(now)
            self.requests[digest(device_code)] = DeviceRequest(
                client_id, user_code, now + self.code_lifetime, self.poll_interval
            )
        uri = f"{self.base_url}/oauth2/device"
        return {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "verification_uri_complete": f"{uri}?user_code={user_code}",
            "expires_in": self.code_lifetime,
            "interval": self.poll_interval,
        }

    def poll(self, device_code: str, client_id: str) -> tuple[int, dict[str, Any]]:
        """The device-code grant: a token once approved, else the RFC 8628 error to keep polling on."""
        now = self.clock()
        with self.lock:
            req = self.requests.get(digest(device_code))
            if req is None or req.client_id != client_id:
                return 400, {"error": "invalid_grant", "error_description": "unknown device_code"}
            if req.expires_at <= now:
                del self.requests[digest(device_code)]
                return 400, {"error": "expired_token"}
            if req.denied:
                del self.requests[digest(device_code)]
                return 400, {"error": "access_denied"}
            too_fast = req.last_poll and now - req.last_poll < req.interval * 0.8  # some jitter allowed
            req.last_poll = now
            if req.subject is None:
                if too_fast:
                    # The client must add 5 s (RFC 8628 3.5); we only insist on the
                    # advertised interval, so a client that backs off is let through.
                    return 400, {"error": "slow_down"}
                return 400, {"error": "authorization_pending"}
            del self.requests[digest(device_code)]
            subject = req.subject
        return 200, self.tokens.issue(subject, subject, refresh=True)
