"""OAuth2 token sources: client credentials (RFC 6749 4.4) and device flow (RFC 8628).

Both discover the authorization server through the Flyte ``AuthMetadataService``
on the API endpoint itself, as the official SDK does.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import grpc
from flyteidl2.auth import auth_service_pb2

from ..._errors import AuthenticationError, ConfigurationError, UnavailableError, redact
from .._rpc import Rpc

if TYPE_CHECKING:
    import httpx

from ._sources import CachedTokenSource, TokenSource

__all__ = [
    "ChannelFactory",
    "ClientCredentialsToken",
    "DeviceFlowToken",
    "OAuthMetadata",
    "basic_auth_header",
    "discover_oauth_metadata",
]

ChannelFactory = Callable[[], Awaitable[grpc.aio.Channel]]
Verify = bool | str | ssl.SSLContext

_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_UNAUTH = grpc.StatusCode.UNAUTHENTICATED


@dataclass(frozen=True)
class OAuthMetadata:
    token_endpoint: str
    device_authorization_endpoint: str = ""
    scopes: tuple[str, ...] = ()
    audience: str = ""
    header_name: str = "authorization"
    public_client_id: str = ""


async def discover_oauth_metadata(rpc: Rpc) -> OAuthMetadata:
    """Ask the endpoint's ``AuthMetadataService`` where and how to get tokens.

    Through the choke point like every call (retries on transient codes, one error
    translation); ``rpc`` must sit on a channel without the bearer token being fetched.
    """
    entity = "OAuth2 metadata discovery (AuthMetadataService)"
    meta = await rpc.call("auth", "GetOAuth2Metadata", auth_service_pb2.GetOAuth2MetadataRequest(), entity=entity)
    public = await rpc.call(
        "auth", "GetPublicClientConfig", auth_service_pb2.GetPublicClientConfigRequest(), entity=entity
    )
    if not meta.token_endpoint:
        raise AuthenticationError("the endpoint's OAuth2 metadata has no token_endpoint; auth is not configured there")
    return OAuthMetadata(
        token_endpoint=meta.token_endpoint,
        device_authorization_endpoint=meta.device_authorization_endpoint,
        scopes=tuple(public.scopes),
        audience=public.audience,
        header_name=(public.authorization_metadata_key or "authorization").lower(),
        public_client_id=public.client_id,
    )


class _TokenEndpointError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        self.status, self.error, self.description = status, error, description
        super().__init__(f"HTTP {status} {error}" + (f": {description}" if description else ""))


def basic_auth_header(client_id: str, client_secret: str) -> str:
    # RFC 6749 2.3.1: both parts are form-urlencoded before the Basic encoding.
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


class _OAuthSource(CachedTokenSource):
    """Shared plumbing: discovery, the HTTP client, token endpoint POSTs."""

    def __init__(
        self,
        *,
        channel_factory: ChannelFactory | None,
        metadata: OAuthMetadata | None,
        scopes: Sequence[str] | None,
        audience: str | None,
        http_session: httpx.AsyncClient | None,
        verify: Verify,
        proxy: TokenSource | None,
        timeout: float,
        secrets: Sequence[str],
    ) -> None:
        super().__init__()
        if channel_factory is None and metadata is None:
            raise ConfigurationError(
                "an OAuth2 token source needs a channel to discover the token endpoint, or its metadata"
            )
        self._channel_factory = channel_factory
        self._metadata = metadata
        self._scopes = tuple(scopes) if scopes is not None else None
        self._audience = audience
        self._http = http_session
        self._verify = verify
        self._proxy = proxy
        self._timeout = timeout
        self._secrets = tuple(secrets)

    @property
    def header_name(self) -> str | None:  # type: ignore[override]
        return self._metadata.header_name if self._metadata else None

    async def metadata(self) -> OAuthMetadata:
        if self._metadata is None:
            assert self._channel_factory is not None
            # A private key: the discovery channel is this source's own, closed right after.
            rpc = Rpc(self._channel_factory, key=f"oauth-discovery-{id(self)}", timeout=self._timeout)
            try:
                self._metadata = await discover_oauth_metadata(rpc)
            finally:
                await rpc.close()
        return self._metadata

    def _scope_and_audience(self, meta: OAuthMetadata) -> dict[str, str]:
        form: dict[str, str] = {}
        scopes = self._scopes if self._scopes is not None else meta.scopes
        if scopes:
            form["scope"] = " ".join(scopes)
        audience = self._audience if self._audience is not None else meta.audience
        if audience:
            form["audience"] = audience
        return form

    async def _request(self, url: str, form: dict[str, str], *, authorization: str | None = None) -> dict[str, Any]:
        """POST a form; return the JSON object of a 2xx answer, else raise _TokenEndpointError."""
        headers = {"Accept": "application/json", "Cache-Control": "no-cache"}
        if authorization:
            headers["Authorization"] = authorization
        if self._proxy is not None:
            headers["Proxy-Authorization"] = f"Bearer {await self._proxy.token()}"
        import httpx  # lazily: importing the package stays cheap

        try:
            if self._http is not None:
                response = await self._http.post(url, data=form, headers=headers, timeout=self._timeout)
            else:
                # A short-lived client: httpx clients are bound to the loop that made them.
                async with httpx.AsyncClient(verify=self._verify, timeout=self._timeout) as http:
                    response = await http.post(url, data=form, headers=headers)
        except httpx.HTTPError as e:
            raise UnavailableError(
                f"{url} could not be reached: {type(e).__name__}: {redact(str(e), *self._secrets)}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.is_success or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            desc = body.get("error_description", "") if isinstance(body, dict) else response.text[:200]
            raise _TokenEndpointError(response.status_code, str(error), redact(str(desc), *self._secrets))
        return body

    async def _post(self, url: str, form: dict[str, str], *, authorization: str | None = None) -> dict[str, Any]:
        body = await self._request(url, form, authorization=authorization)
        if not body.get("access_token"):
            raise AuthenticationError(f"token endpoint {url} answered without an access_token", code=_UNAUTH)
        return body

    @staticmethod
    def _lifetime(body: dict[str, Any]) -> float | None:
        try:
            return float(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            return 3600.0  # RFC 6749 makes expires_in optional; assume an hour


class ClientCredentialsToken(_OAuthSource):
    """``grant_type=client_credentials`` with HTTP Basic client authentication."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        channel_factory: ChannelFactory | None = None,
        metadata: OAuthMetadata | None = None,
        scopes: Sequence[str] | None = None,
        audience: str | None = None,
        http_session: httpx.AsyncClient | None = None,
        verify: Verify = True,
        proxy: TokenSource | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not client_id or not client_secret:
            raise ConfigurationError("client credentials need both client_id and client_secret")
        super().__init__(
            channel_factory=channel_factory,
            metadata=metadata,
            scopes=scopes,
            audience=audience,
            http_session=http_session,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            secrets=(client_secret,),
        )
        self.client_id = client_id
        self.__secret = client_secret

    async def _fetch(self) -> tuple[str, float | None]:
        meta = await self.metadata()
        form = {"grant_type": "client_credentials", **self._scope_and_audience(meta)}
        try:
            body = await self._post(
                meta.token_endpoint, form, authorization=basic_auth_header(self.client_id, self.__secret)
            )
        except _TokenEndpointError as e:
            raise AuthenticationError(
                f"client {self.client_id!r} could not get a token from {meta.token_endpoint} ({e})", code=_UNAUTH
            ) from None
        return str(body["access_token"]), self._lifetime(body)

    def __repr__(self) -> str:
        return f"ClientCredentialsToken(client_id={self.client_id!r}, client_secret='***')"


def _default_prompt(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class DeviceFlowToken(_OAuthSource):
    """RFC 8628 device authorization grant, for people at a terminal.

    Prints where to go and which code to enter, then polls the token endpoint at
    the server's ``interval``, adding ``slow_down_increment`` seconds on each
    ``slow_down`` (RFC 8628 3.5). A refresh token, when the server gives one, is
    used before asking the person again.
    """

    def __init__(
        self,
        *,
        client_id: str | None = None,
        channel_factory: ChannelFactory | None = None,
        metadata: OAuthMetadata | None = None,
        scopes: Sequence[str] | None = None,
        audience: str | None = None,
        http_session: httpx.AsyncClient | None = None,
        verify: Verify = True,
        proxy: TokenSource | None = None,
        timeout: float = 30.0,
        prompt: Callable[[str], None] | None = None,
        max_wait: float | None = None,
        slow_down_increment: float = 5.0,
    ) -> None:
        super().__init__(
            channel_factory=channel_factory,
            metadata=metadata,
            scopes=scopes,
            audience=audience,
            http_session=http_session,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            secrets=(),
        )
        self._client_id = client_id
        self._prompt = prompt or _default_prompt
        self._max_wait = max_wait
        self._slow_down_increment = slow_down_increment
        self._refresh_token: str | None = None
        self.polls = 0
        self.slow_downs = 0

    async def _fetch(self) -> tuple[str, float | None]:
        meta = await self.metadata()
        client_id = self._client_id or meta.public_client_id
        if not client_id:
            raise ConfigurationError("the device flow needs a client_id and the endpoint advertises no public client")
        if self._refresh_token:
            try:
                body = await self._post(
                    meta.token_endpoint,
                    {"grant_type": "refresh_token", "refresh_token": self._refresh_token, "client_id": client_id},
                )
                return self._accept(body)
            except (_TokenEndpointError, AuthenticationError):
                self._refresh_token = None  # expired or revoked: ask the person again
        return self._accept(await self._device_flow(meta, client_id))

    def _accept(self, body: dict[str, Any]) -> tuple[str, float | None]:
        self._refresh_token = body.get("refresh_token") or self._refresh_token
        return str(body["access_token"]), self._lifetime(body)

    async def _device_flow(self, meta: OAuthMetadata, client_id: str) -> dict[str, Any]:
        if not meta.device_authorization_endpoint:
            raise AuthenticationError(
                "the endpoint advertises no device_authorization_endpoint; the device flow is not available"
            )
        form = {"client_id": client_id, **self._scope_and_audience(meta)}
        try:
            auth = await self._post_device(meta.device_authorization_endpoint, form)
        except _TokenEndpointError as e:
            raise AuthenticationError(f"device authorization request was refused ({e})", code=_UNAUTH) from None
        uri = auth.get("verification_uri_complete") or auth["verification_uri"]
        self._prompt(f"To sign in, open {uri} and confirm the code {auth['user_code']}")
        interval = float(auth.get("interval") or 5.0)
        deadline = time.monotonic() + float(auth.get("expires_in") or 600)
        if self._max_wait is not None:
            deadline = min(deadline, time.monotonic() + self._max_wait)
        poll = {"grant_type": _DEVICE_GRANT, "device_code": auth["device_code"], "client_id": client_id}
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() > deadline:
                raise AuthenticationError("the device code expired before the sign-in was confirmed", code=_UNAUTH)
            self.polls += 1
            try:
                return await self._post(meta.token_endpoint, poll)
            except _TokenEndpointError as e:
                if e.error == "authorization_pending":
                    continue
                if e.error == "slow_down":
                    self.slow_downs += 1
                    interval += self._slow_down_increment
                    continue
                if e.error == "expired_token":
                    raise AuthenticationError(
                        "the device code expired before the sign-in was confirmed", code=_UNAUTH
                    ) from None
                if e.error == "access_denied":
                    raise AuthenticationError("the sign-in was denied", code=_UNAUTH) from None
                raise AuthenticationError(f"device flow token request failed ({e})", code=_UNAUTH) from None

    async def _post_device(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        body = await self._request(url, form)
        for key in ("device_code", "user_code", "verification_uri"):
            if not body.get(key):
                raise AuthenticationError(f"device authorization response from {url} has no {key}")
        return body

    def __repr__(self) -> str:
        return f"DeviceFlowToken(client_id={self._client_id!r}, token={'***' if self._token else None})"
