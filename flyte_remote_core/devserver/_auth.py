"""Authentication for the devserver: clients, API keys, tokens, device flow.

Everything lives in memory. Client registrations (never tokens) can be persisted by
passing ``on_change`` (called with a JSON-safe dict) and restored with ``state=``.
Secrets and tokens are stored as SHA-256 digests only. Access tokens live
``token_lifetime``, refresh tokens ``refresh_token_lifetime`` (30 days; rotated on use),
device sign-ins ``device_code_lifetime``; expired ones are purged (``purge_expired``).

Wiring (the devserver decides)::

    auth = AuthManager(base_url="http://127.0.0.1:8090")
    apps = auth.connect_apps()            # {path prefix: ASGI app} for the two auth services
    interceptor = auth.server_interceptor()   # add to every other connectrpc ASGI app
    # route "/oauth2/..." to auth.token_endpoint (an ASGI callable)

This module holds :class:`AuthManager` itself (clients, API keys, access and refresh
tokens, wiring of the services); the rest is split by concept:

- ``_auth_common``: grant records, digests, errors, constants
- ``_auth_device``: the device authorization flow
- ``_auth_oauth``: the ``/oauth2/token`` and ``/oauth2/device/code`` ASGI endpoint
- ``_auth_services``: AuthMetadataService, IdentityService, the bearer-check interceptor
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication

from flyte_remote_core import encode_api_key

# DEVICE_GRANT, _DeviceRequest, _client_auth and _json are re-exported: importable from here as before the split.
from ._auth_common import DEVICE_GRANT, PUBLIC_PATHS, InvalidClientError, _digest, _Grant  # noqa: F401
from ._auth_device import DeviceFlowMixin, _DeviceRequest  # noqa: F401
from ._auth_oauth import TokenEndpointMixin, _client_auth, _json  # noqa: F401
from ._auth_services import AuthMetadataService, BearerCheckInterceptor, IdentityService

__all__ = ["AuthManager", "InvalidClientError", "PUBLIC_PATHS"]

REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600.0  # 30 days


class AuthManager(DeviceFlowMixin, TokenEndpointMixin):
    """Issues and checks bearer tokens for the devserver. Thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        token_lifetime: float = 3600.0,
        refresh_token_lifetime: float = REFRESH_TOKEN_LIFETIME,
        device_code_lifetime: float = 600.0,
        device_poll_interval: float = 5.0,
        public_client_id: str = "flyte-cli",
        scopes: Iterable[str] = ("all",),
        audience: str = "",
        state: dict[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_lifetime = token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self._clock = clock  # wall-clock seconds; tests inject a fake one
        self._last_purge = clock()
        self.device_code_lifetime = device_code_lifetime
        self.device_poll_interval = device_poll_interval
        self.public_client_id = public_client_id
        self.scopes = tuple(scopes)
        self.audience = audience
        self._on_change = on_change
        self._lock = threading.Lock()
        # client_id -> {"name", "secret_sha256"}
        self._clients: dict[str, dict[str, str]] = dict((state or {}).get("clients", {}))
        self._tokens: dict[str, _Grant] = {}  # sha256(access token) -> grant
        self._refresh: dict[str, _Grant] = {}  # sha256(refresh token) -> grant
        self._devices: dict[str, _DeviceRequest] = {}  # sha256(device_code) -> request
        self.token_requests = 0  # issued access tokens, for tests and metrics

    # -- clients and API keys -------------------------------------------------

    def create_client(self, name: str = "default") -> tuple[str, str]:
        """Register a confidential client; returns ``(client_id, client_secret)``."""
        client_id = f"{name}-{secrets.token_hex(4)}"
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._clients[client_id] = {"name": name, "secret_sha256": _digest(secret)}
        self._changed()
        return client_id, secret

    def create_api_key(self, endpoint: str, org: str = "", *, name: str = "default") -> str:
        """A new client packed as an API key: ``base64(endpoint:client_id:client_secret:org)``."""
        client_id, secret = self.create_client(name)
        return encode_api_key(endpoint, client_id, secret, org)

    def delete_client(self, client_id: str) -> None:
        with self._lock:
            self._clients.pop(client_id, None)
            for table in (self._tokens, self._refresh):
                for key in [k for k, g in table.items() if g.subject == client_id]:
                    del table[key]
        self._changed()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"clients": {k: dict(v) for k, v in self._clients.items()}}

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.state())

    # -- tokens ---------------------------------------------------------------

    def _verify_client(self, client_id: str, client_secret: str) -> dict[str, str]:
        client = self._clients.get(client_id)
        # compare_digest on digests of equal length: no timing hint about the secret
        if client is None or not hmac.compare_digest(client["secret_sha256"], _digest(client_secret or "")):
            raise InvalidClientError("unknown client or wrong secret")
        return client

    def _new_token(self, subject: str, name: str, *, refresh: bool = False) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        with self._lock:
            self._purge_locked(now)
            self._tokens[_digest(token)] = _Grant(subject, name, now + self.token_lifetime)
            self.token_requests += 1
            if refresh:
                rt = secrets.token_urlsafe(32)
                self._refresh[_digest(rt)] = _Grant(subject, name, now + self.refresh_token_lifetime)
                body["refresh_token"] = rt
        if self.scopes:
            body["scope"] = " ".join(self.scopes)
        return body

    def issue_token(self, client_id: str, client_secret: str, scope: str | None = None) -> tuple[str, float]:
        """Client credentials grant; raises :class:`InvalidClientError`."""
        with self._lock:
            client = self._verify_client(client_id, client_secret)
        body = self._new_token(client_id, client["name"])
        return body["access_token"], body["expires_in"]

    def _grant_for(self, token: str) -> _Grant | None:
        with self._lock:
            grant = self._tokens.get(_digest(token))
            if grant is not None and grant.expires_at <= self._clock():
                del self._tokens[_digest(token)]
                return None
            return grant

    def subject_for(self, token: str) -> str | None:
        grant = self._grant_for(token)
        return grant.subject if grant else None

    def check(self, authorization_header_value: str | None) -> bool:
        """True when the header is ``Bearer <a live token>``."""
        return self.token_from_header(authorization_header_value) is not None

    def token_from_header(self, value: str | None) -> str | None:
        if not value:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        return token if self._grant_for(token) is not None else None

    def revoke_all_tokens(self) -> None:
        """Forget every access token (refresh tokens too); clients stay registered."""
        with self._lock:
            self._tokens.clear()
            self._refresh.clear()

    def purge_expired(self) -> None:
        """Forget expired access and refresh tokens and expired device sign-ins now.

        Also done on its own, at most once a second, whenever a token or device code is issued.
        """
        with self._lock:
            self._purge_locked(self._clock(), force=True)

    def _purge_locked(self, now: float, *, force: bool = False) -> None:
        if not force and now - self._last_purge < 1.0:
            return
        self._last_purge = now
        for table in (self._tokens, self._refresh):
            for key in [k for k, g in table.items() if g.expires_at <= now]:
                del table[key]
        self._purge_devices_locked(now)

    def _use_refresh_token(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            grant = self._refresh.pop(_digest(refresh_token), None)
        if grant is None or grant.expires_at <= self._clock():
            return 400, {"error": "invalid_grant", "error_description": "unknown or expired refresh token"}
        return 200, self._new_token(grant.subject, grant.name, refresh=True)  # rotated

    # -- connectrpc services --------------------------------------------------

    def auth_metadata_service(self) -> AuthMetadataService:
        return AuthMetadataService(self)

    def identity_service(self) -> IdentityService:
        return IdentityService(self)

    def server_interceptor(self, *, public_paths: Iterable[str] = PUBLIC_PATHS) -> BearerCheckInterceptor:
        return BearerCheckInterceptor(self, public_paths=tuple(public_paths))

    def connect_apps(self) -> dict[str, Any]:
        """``{path prefix: ASGI app}`` for AuthMetadataService and IdentityService."""
        metadata = AuthMetadataServiceASGIApplication(self.auth_metadata_service())
        identity = IdentityServiceASGIApplication(self.identity_service(), interceptors=[self.server_interceptor()])
        return {metadata.path: metadata, identity.path: identity}
