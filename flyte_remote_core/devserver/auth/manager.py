"""The :class:`AuthManager`: the devserver's auth, assembled (clients, API keys, tokens, device flow).

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

The parts, each with the shared lock and clock: :class:`~.clients.ClientBook`,
:class:`~.tokens.TokenBook`, :class:`~.device.DeviceFlow`, :class:`~.oauth.TokenEndpoint`,
and the connectrpc side in :mod:`.services`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication

from .clients import ClientBook
from .device import DeviceFlow
from .grants import PUBLIC_PATHS, Clock, Issuer, Janitor
from .oauth import TokenEndpoint
from .services import AuthMetadataService, BearerCheckInterceptor, IdentityService
from .tokens import TokenBook

__all__ = ["AuthManager"]

REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600.0  # 30 days


class _OnPart:
    """A number the manager shows as its own attribute, kept on one of its parts (read and set)."""

    def __init__(self, part: str, name: str) -> None:
        self.part = part
        self.name = name

    def __get__(self, manager: object, owner: type | None = None) -> Any:
        if manager is None:
            return self  # looked up on the class
        return getattr(getattr(manager, self.part), self.name)

    def __set__(self, manager: object, value: float) -> None:
        setattr(getattr(manager, self.part), self.name, value)


class AuthManager:
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
        clock: Clock = time.time,
    ) -> None:
        self.issuer = Issuer(base_url.rstrip("/"), tuple(scopes), public_client_id, audience)
        lock = threading.Lock()  # one lock for every part: a change never sees another half-done
        self._lock = lock
        self._clock = clock
        janitor = Janitor(clock)
        self._janitor = janitor
        self.clients = ClientBook(lock=lock, state=state, on_change=on_change)
        self.tokens = TokenBook(
            lock=lock, clock=clock, janitor=janitor, lifetime=token_lifetime,
            refresh_lifetime=refresh_token_lifetime, scopes=self.issuer.scopes,
        )  # fmt: skip
        self.device_flow = DeviceFlow(
            lock=lock, clock=clock, janitor=janitor, tokens=self.tokens, base_url=self.issuer.base_url,
            code_lifetime=device_code_lifetime, poll_interval=device_poll_interval,
        )  # fmt: skip
        # ASGI app for "/oauth2/token" and "/oauth2/device/code".
        self.token_endpoint = TokenEndpoint(clients=self.clients, tokens=self.tokens, devices=self.device_flow)

    # Settings that callers (tests) change on the fly; each lives on the part that uses it.
    token_lifetime = _OnPart("tokens", "lifetime")
    device_code_lifetime = _OnPart("device_flow", "code_lifetime")

    @property
    def token_requests(self) -> int:
        """Access tokens issued so far."""
        return self.tokens.issued

    # -- clients and API keys -------------------------------------------------

    def create_client(self, name: str = "default") -> tuple[str, str]:
        """Register a confidential client; returns ``(client_id, client_secret)``."""
        return self.clients.create(name)

    def create_api_key(self, endpoint: str, org: str = "", *, name: str = "default") -> str:
        """A new client packed as an API key: ``base64(endpoint:client_id:client_secret:org)``."""
        client_id, secret = self.create_client(name)
        from flyte_remote_core import encode_api_key  # the client's transport loads only when keys are made

        return encode_api_key(endpoint, client_id, secret, org)

    def delete_client(self, client_id: str) -> None:
        """Forget the client and every token issued to it."""
        with self._lock:
            self.clients.remove_locked(client_id)
            self.tokens.drop_subject_locked(client_id)
        self.clients.changed()

    def state(self) -> dict[str, Any]:
        return self.clients.state()

    # -- tokens ---------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str, scope: str | None = None) -> tuple[str, float]:
        """Client credentials grant; raises :class:`~.grants.InvalidClientError`."""
        client = self.clients.verify(client_id, client_secret)
        body = self.tokens.issue(client_id, client["name"])
        return body["access_token"], body["expires_in"]

    def subject_for(self, token: str) -> str | None:
        grant = self.tokens.grant_for(token)
        return grant.subject if grant else None

    def check(self, authorization_header_value: str | None) -> bool:
        """True when the header is ``Bearer <a live token>``."""
        return self.tokens.token_from_header(authorization_header_value) is not None

    def token_from_header(self, value: str | None) -> str | None:
        return self.tokens.token_from_header(value)

    def revoke_all_tokens(self) -> None:
        """Forget every access token (refresh tokens too); clients stay registered."""
        self.tokens.revoke_all()

    def purge_expired(self) -> None:
        """Forget expired access and refresh tokens and expired device sign-ins now.

        Also done on its own, at most once a second, whenever a token or device code is issued.
        """
        with self._lock:
            self._janitor.sweep_locked(self._clock(), force=True)

    # -- device flow ----------------------------------------------------------

    def approve_device(self, user_code: str, *, subject: str = "dev-user") -> bool:
        """Confirm a pending device sign-in as ``subject`` (what a person does in the browser)."""
        return self.device_flow.approve(user_code, subject=subject)

    def deny_device(self, user_code: str) -> bool:
        return self.device_flow.deny(user_code)

    def pending_user_codes(self) -> list[str]:
        return self.device_flow.pending_user_codes()

    # -- connectrpc services --------------------------------------------------

    def auth_metadata_service(self) -> AuthMetadataService:
        return AuthMetadataService(self.issuer)

    def identity_service(self) -> IdentityService:
        return IdentityService(self.tokens)

    def server_interceptor(self, *, public_paths: Iterable[str] = PUBLIC_PATHS) -> BearerCheckInterceptor:
        return BearerCheckInterceptor(self.tokens, public_paths=tuple(public_paths))

    def connect_apps(self) -> dict[str, Any]:
        """``{path prefix: ASGI app}`` for AuthMetadataService and IdentityService."""
        metadata = AuthMetadataServiceASGIApplication(self.auth_metadata_service())
        identity = IdentityServiceASGIApplication(self.identity_service(), interceptors=[self.server_interceptor()])
        return {metadata.path: metadata, identity.path: identity}
