"""AuthManager mixin for the OAuth 2.0 device authorization grant (RFC 8628).

A CLI asks for a device code (``POST /oauth2/device/code``), a person approves the
user code (:meth:`DeviceFlowMixin.approve_device`, the devserver's stand-in for a
browser sign-in), and the CLI polls ``/oauth2/token`` until it gets a token.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._auth_common import _digest

_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no accidental words
# An expired request is kept this long after its ``expires_in`` so that a client still
# polling hears ``expired_token`` (RFC 8628 3.5) rather than ``invalid_grant``; then it is dropped.
EXPIRED_DEVICE_GRACE_S = 60.0


@dataclass
class _DeviceRequest:
    client_id: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float = 0.0
    subject: str | None = None  # set on approval
    denied: bool = False


class DeviceFlowMixin:
    """Pending device sign-ins; needs the manager's lock, lifetimes and ``_new_token``."""

    base_url: str
    device_code_lifetime: float
    device_poll_interval: float
    _lock: threading.Lock
    _devices: dict[str, _DeviceRequest]
    _clock: Callable[[], float]
    _purge_locked: Callable[[float], None]

    def _purge_devices_locked(self, now: float) -> None:
        """Drop requests that expired over ``EXPIRED_DEVICE_GRACE_S`` ago (caller holds the lock).

        A request is also dropped as soon as it is used: a token was issued, or the client
        heard ``access_denied`` or ``expired_token``.
        """
        for key in [k for k, r in self._devices.items() if r.expires_at + EXPIRED_DEVICE_GRACE_S <= now]:
            del self._devices[key]

    # -- device flow ----------------------------------------------------------

    def approve_device(self, user_code: str, *, subject: str = "dev-user") -> bool:
        """Confirm a pending device sign-in as ``subject`` (what a person does in the browser)."""
        code = user_code.replace("-", "").upper()
        with self._lock:
            now = self._clock()
            for req in self._devices.values():
                if req.user_code.replace("-", "") == code and req.expires_at > now and not req.denied:
                    req.subject = subject
                    return True
        return False

    def deny_device(self, user_code: str) -> bool:
        code = user_code.replace("-", "").upper()
        with self._lock:
            now = self._clock()
            for req in self._devices.values():
                if req.user_code.replace("-", "") == code and req.expires_at > now:
                    req.denied = True
                    return True
        return False

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            now = self._clock()
            return [r.user_code for r in self._devices.values()
                    if r.subject is None and not r.denied and r.expires_at > now]

    def _start_device(self, client_id: str) -> dict[str, Any]:
        device_code = secrets.token_urlsafe(32)
        raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{raw[:4]}-{raw[4:]}"
        with self._lock:
            now = self._clock()
            self._purge_locked(now)
            self._devices[_digest(device_code)] = _DeviceRequest(
                client_id, user_code, now + self.device_code_lifetime, self.device_poll_interval
            )
        uri = f"{self.base_url}/oauth2/device"
        return {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "verification_uri_complete": f"{uri}?user_code={user_code}",
            "expires_in": self.device_code_lifetime,
            "interval": self.device_poll_interval,
        }

    def _poll_device(self, device_code: str, client_id: str) -> tuple[int, dict[str, Any]]:
        now = self._clock()
        with self._lock:
            req = self._devices.get(_digest(device_code))
            if req is None or req.client_id != client_id:
                return 400, {"error": "invalid_grant", "error_description": "unknown device_code"}
            if req.expires_at <= now:
                del self._devices[_digest(device_code)]
                return 400, {"error": "expired_token"}
            if req.denied:
                del self._devices[_digest(device_code)]
                return 400, {"error": "access_denied"}
            too_fast = req.last_poll and now - req.last_poll < req.interval * 0.8  # some jitter allowed
            req.last_poll = now
            if req.subject is None:
                if too_fast:
                    # The client must add 5 s (RFC 8628 3.5); we only insist on the
                    # advertised interval, so a client that backs off is let through.
                    return 400, {"error": "slow_down"}
                return 400, {"error": "authorization_pending"}
            del self._devices[_digest(device_code)]
            subject = req.subject
        return 200, self._new_token(subject, subject, refresh=True)
