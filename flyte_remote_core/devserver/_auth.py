"""Authentication for the devserver: clients, API keys, tokens, device flow.

Everything lives in memory. Client registrations (never tokens) can be persisted by
passing ``on_change`` (called with a JSON-safe dict) and restored with ``state=``.
Secrets and tokens are stored as SHA-256 digests only.

Wiring (the devserver decides)::

    auth = AuthManager(base_url="http://127.0.0.1:8090")
    apps = auth.connect_apps()            # {path prefix: ASGI app} for the two auth services
    interceptor = auth.server_interceptor()   # add to every other connectrpc ASGI app
    # route "/oauth2/..." to auth.token_endpoint (an ASGI callable)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.auth import auth_service_pb2, identity_pb2
from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication

from .._auth import encode_api_key

__all__ = ["AuthManager", "InvalidClientError", "PUBLIC_PATHS"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Services a caller must reach before it has a token.
PUBLIC_PATHS = ("/flyteidl2.auth.AuthMetadataService/", "/grpc.health.v1.Health/")
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no accidental words

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


@dataclass
class _DeviceRequest:
    client_id: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float = 0.0
    subject: str | None = None  # set on approval
    denied: bool = False


class AuthManager:
    """Issues and checks bearer tokens for the devserver. Thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        token_lifetime: float = 3600.0,
        device_code_lifetime: float = 600.0,
        device_poll_interval: float = 5.0,
        public_client_id: str = "flyte-cli",
        scopes: Iterable[str] = ("all",),
        audience: str = "",
        state: dict[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_lifetime = token_lifetime
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
        now = time.time()
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        with self._lock:
            self._tokens[_digest(token)] = _Grant(subject, name, now + self.token_lifetime)
            self.token_requests += 1
            if refresh:
                rt = secrets.token_urlsafe(32)
                self._refresh[_digest(rt)] = _Grant(subject, name, now + 30 * 24 * 3600)
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
            if grant is not None and grant.expires_at <= time.time():
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

    # -- device flow ----------------------------------------------------------

    def approve_device(self, user_code: str, *, subject: str = "dev-user") -> bool:
        """Confirm a pending device sign-in as ``subject`` (what a person does in the browser)."""
        code = user_code.replace("-", "").upper()
        with self._lock:
            for req in self._devices.values():
                if req.user_code.replace("-", "") == code and req.expires_at > time.time():
                    req.subject = subject
                    return True
        return False

    def deny_device(self, user_code: str) -> bool:
        code = user_code.replace("-", "").upper()
        with self._lock:
            for req in self._devices.values():
                if req.user_code.replace("-", "") == code:
                    req.denied = True
                    return True
        return False

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return [r.user_code for r in self._devices.values() if r.subject is None and not r.denied]

    def _start_device(self, client_id: str) -> dict[str, Any]:
        device_code = secrets.token_urlsafe(32)
        raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{raw[:4]}-{raw[4:]}"
        with self._lock:
            self._devices[_digest(device_code)] = _DeviceRequest(
                client_id, user_code, time.time() + self.device_code_lifetime, self.device_poll_interval
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
        now = time.time()
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

    def _use_refresh_token(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            grant = self._refresh.pop(_digest(refresh_token), None)
        if grant is None or grant.expires_at <= time.time():
            return 400, {"error": "invalid_grant", "error_description": "unknown or expired refresh token"}
        return 200, self._new_token(grant.subject, grant.name, refresh=True)  # rotated

    # -- HTTP: /oauth2/token and /oauth2/device/code ---------------------------

    async def token_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app for ``POST /oauth2/token`` and ``POST /oauth2/device/code`` (any path prefix)."""
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if scope.get("method") != "POST":
            await _json(send, 405, {"error": "invalid_request", "error_description": "use POST"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client_id, client_secret = _client_auth(headers.get("authorization"), form)
        if path.endswith("/oauth2/device/code"):
            if not client_id:
                await _json(send, 400, {"error": "invalid_request", "error_description": "client_id is required"})
                return
            await _json(send, 200, self._start_device(client_id))
            return
        if not path.endswith("/oauth2/token"):
            await _json(send, 404, {"error": "not_found"})
            return
        status, answer = self._token_grant(form.get("grant_type", ""), form, client_id, client_secret)
        extra = [(b"www-authenticate", b'Basic realm="flyte-devserver"')] if status == 401 else []
        await _json(send, status, answer, extra)

    def _token_grant(
        self, grant_type: str, form: dict[str, str], client_id: str | None, client_secret: str | None
    ) -> tuple[int, dict[str, Any]]:
        if grant_type == "client_credentials":
            try:
                with self._lock:
                    client = self._verify_client(client_id or "", client_secret or "")
            except InvalidClientError:
                return 401, {"error": "invalid_client", "error_description": "client authentication failed"}
            return 200, self._new_token(client_id or "", client["name"])
        if grant_type == DEVICE_GRANT:
            if not form.get("device_code") or not client_id:
                return 400, {"error": "invalid_request", "error_description": "device_code and client_id are required"}
            return self._poll_device(form["device_code"], client_id)
        if grant_type == "refresh_token":
            if not form.get("refresh_token"):
                return 400, {"error": "invalid_request", "error_description": "refresh_token is required"}
            return self._use_refresh_token(form["refresh_token"])
        return 400, {"error": "unsupported_grant_type"}

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


def _client_auth(header: str | None, form: dict[str, str]) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic (RFC 6749 2.3.1, form-urlencoded parts) or the form."""
    if header and header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        cid, _, secret = raw.partition(":")
        return unquote_plus(cid), unquote_plus(secret)
    return form.get("client_id") or None, form.get("client_secret") or None


async def _json(send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),  # RFC 6749 5.1
        (b"content-length", str(len(data)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class AuthMetadataService:
    """``flyteidl2.auth.AuthMetadataService`` for connectrpc (public: no token needed)."""

    def __init__(self, manager: AuthManager) -> None:
        self._m = manager

    async def get_o_auth2_metadata(
        self, request: auth_service_pb2.GetOAuth2MetadataRequest, ctx: RequestContext
    ) -> auth_service_pb2.GetOAuth2MetadataResponse:
        base = self._m.base_url
        return auth_service_pb2.GetOAuth2MetadataResponse(
            issuer=base,
            token_endpoint=f"{base}/oauth2/token",
            device_authorization_endpoint=f"{base}/oauth2/device/code",
            response_types_supported=["token"],
            scopes_supported=list(self._m.scopes),
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            grant_types_supported=["client_credentials", DEVICE_GRANT, "refresh_token"],
        )

    async def get_public_client_config(
        self, request: auth_service_pb2.GetPublicClientConfigRequest, ctx: RequestContext
    ) -> auth_service_pb2.GetPublicClientConfigResponse:
        return auth_service_pb2.GetPublicClientConfigResponse(
            client_id=self._m.public_client_id,
            scopes=list(self._m.scopes),
            authorization_metadata_key="authorization",
            audience=self._m.audience,
        )


class IdentityService:
    """``flyteidl2.auth.IdentityService.UserInfo``: who the caller's token belongs to."""

    def __init__(self, manager: AuthManager) -> None:
        self._m = manager

    async def user_info(self, request: identity_pb2.UserInfoRequest, ctx: RequestContext) -> identity_pb2.UserInfoResponse:
        token = self._m.token_from_header(ctx.request_headers().get("authorization"))
        grant = self._m._grant_for(token) if token else None
        if grant is None:
            raise ConnectError(Code.UNAUTHENTICATED, "missing or invalid bearer token")
        return identity_pb2.UserInfoResponse(subject=grant.subject, name=grant.name, preferred_username=grant.subject)


class BearerCheckInterceptor:
    """connectrpc server interceptor (metadata kind): UNAUTHENTICATED without a live token."""

    def __init__(self, manager: AuthManager, *, public_paths: tuple[str, ...] = PUBLIC_PATHS) -> None:
        self._m = manager
        self._public = public_paths

    async def on_start(self, ctx: RequestContext) -> None:
        method = ctx.method()  # connectrpc 0.10: accessors are methods
        path = f"/{method.service_name}/{method.name}"
        if any(path.startswith(p) for p in self._public):
            return
        if not self._m.check(ctx.request_headers().get("authorization")):
            raise ConnectError(Code.UNAUTHENTICATED, "missing or invalid bearer token")

    async def on_end(self, token: None, ctx: RequestContext, error: Exception | None) -> None:
        return None
