"""gRPC channels to a Flyte 2 endpoint, with TLS, keepalive and auth.

A ``grpc.aio`` channel belongs to the event loop it was made on. Build a
:class:`ChannelConfig` once (validation, credentials, token cache) and call
:meth:`ChannelConfig.open` on each event loop that needs a channel; the token
sources inside the config are shared, so a new loop does not fetch a new token.
:func:`create_channel` is the seed's one-shot form of the same thing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

if TYPE_CHECKING:
    import httpx

from .._errors import ConfigurationError
from ._auth import (
    ClientCredentialsToken,
    CommandToken,
    DeviceFlowToken,
    StaticToken,
    TokenSource,
    auth_interceptors,
    parse_api_key,
)
from ._endpoint import Endpoint, parse_endpoint

__all__ = ["DEFAULT_GRPC_OPTIONS", "ChannelConfig", "channel_config", "create_channel", "fetch_server_trust"]

# Keepalive: a half-open connection (NAT or proxy dropped it silently) is noticed in
# at most ~30 s (20 s idle + 10 s unanswered ping) instead of hanging a watch stream.
# max_pings_without_data=0 lets the client keep pinging an idle stream (the default
# of 2 stops pinging exactly when a quiet watch stream needs it). Go's net/http2
# (connect-go behind h2c, the Flyte 2 backend) and hypercorn/h2 answer pings without
# counting strikes; a grpc-go server with its default 5-minute enforcement would send
# GOAWAY(too_many_pings), after which grpc-core doubles the client's keepalive time
# by itself, so the worst case is one reconnect, not a failure loop.
# Reconnect backoff: grpc-core's default grows to 120 s, so after an outage of a few minutes a
# watch could stay blind for up to two minutes after the backend is back (its RPCs fail fast
# while the channel sits in TRANSIENT_FAILURE). Capped at 5 s, like the watcher's own backoff.
DEFAULT_GRPC_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.primary_user_agent", "flyte-remote-core"),
)

_AUTH_TYPES = {
    "client_credentials": "client_credentials",
    "clientsecret": "client_credentials",
    "client_secret": "client_credentials",
    "device_flow": "device_flow",
    "deviceflow": "device_flow",
    "device": "device_flow",
    "token": "token",
    "static": "token",
    "command": "command",
    "externalcommand": "command",
    "external_command": "command",
    "none": "none",
}
_KNOWN_KWARGS = {
    "client_id",
    "client_secret",
    "client_credentials_secret",
    "token",
    "token_command",
    "command",
    "auth_type",
    "scopes",
    "audience",
    "header_key",
    "keepalive_time_ms",
    "keepalive_timeout_ms",
    "options",
    "device_prompt",
}


def fetch_server_trust(host: str, port: int, *, timeout: float = 10.0) -> tuple[bytes, str | None]:
    """Fetch a server's certificate chain without verifying it (blocking; run it in a thread).

    grpc has no "skip verification" switch, so ``insecure_skip_verify`` trusts what the
    server presents: the top certificate of the chain becomes the root of trust, and
    the returned override name (a DNS name from the leaf certificate, or None when the
    host already matches) is used as ``grpc.ssl_target_name_override``. This gives
    up protection against an active man in the middle, which is what skip-verify means.
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=host if not _is_ip(host) else None) as tls:
            chain = tls._sslobj.get_unverified_chain() if hasattr(tls._sslobj, "get_unverified_chain") else None  # type: ignore[attr-defined]
            if chain:
                root_pem = chain[-1].public_bytes(ssl._ssl.ENCODING_PEM).encode()  # type: ignore[attr-defined]
                leaf = chain[0].get_info()
            else:
                der = tls.getpeercert(binary_form=True)
                if not der:
                    raise ConfigurationError(f"{host}:{port} presented no TLS certificate")
                root_pem = ssl.DER_cert_to_PEM_cert(der).encode()
                leaf = {}
    return root_pem, _name_override(host, leaf)


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


def _name_override(host: str, leaf: Mapping[str, Any]) -> str | None:
    sans = leaf.get("subjectAltName", ())
    dns = [v for k, v in sans if k == "DNS"]
    ips = [v for k, v in sans if k == "IP Address"]
    if host in ips or host.lower() in (d.lower() for d in dns):
        return None
    if any(
        d.startswith("*.") and host.lower().endswith(d[1:].lower()) and host.count(".") == d.count(".") for d in dns
    ):
        return None
    if dns:
        # A wildcard name is not a host name; pick one that the wildcard covers.
        first = str(dns[0])
        return "x" + first[1:] if first.startswith("*.") else first
    for rdn in leaf.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


@dataclass(frozen=True, repr=False)
class ChannelConfig:
    """Everything needed to open an authenticated channel, on any event loop."""

    endpoint: Endpoint
    insecure: bool
    insecure_skip_verify: bool = False
    ca_cert_pem: bytes | None = None
    ssl_credentials: grpc.ChannelCredentials | None = None
    grpc_options: tuple[tuple[str, Any], ...] = DEFAULT_GRPC_OPTIONS
    compression: grpc.Compression | None = None
    auth: TokenSource | None = None
    auth_header: str | None = None  # None: the name the auth source discovered
    proxy_auth: TokenSource | None = None
    _trust_cache: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        auth = type(self.auth).__name__ if self.auth else None
        return (
            f"ChannelConfig(target={self.endpoint.target!r}, insecure={self.insecure}, "
            f"skip_verify={self.insecure_skip_verify}, custom_ca={self.ca_cert_pem is not None}, auth={auth})"
        )

    async def _credentials(self) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]]:
        if self.ssl_credentials is not None:
            return self.ssl_credentials, []
        if self.insecure_skip_verify:
            if "skip" not in self._trust_cache:
                self._trust_cache["skip"] = await asyncio.to_thread(
                    fetch_server_trust, self.endpoint.host, self.endpoint.port
                )
            root, override = self._trust_cache["skip"]
            extra = [("grpc.ssl_target_name_override", override)] if override else []
            return grpc.ssl_channel_credentials(root_certificates=root), extra
        return grpc.ssl_channel_credentials(root_certificates=self.ca_cert_pem), []

    async def open_unauthenticated(self) -> grpc.aio.Channel:
        """A channel without the bearer token (used for OAuth2 discovery); proxy auth still applies."""
        return await self._open(self._interceptors(with_auth=False))

    async def open(self) -> grpc.aio.Channel:
        """An authenticated channel bound to the running event loop."""
        return await self._open(self._interceptors(with_auth=True))

    def _interceptors(self, *, with_auth: bool) -> list[grpc.aio.ClientInterceptor]:
        interceptors: list[grpc.aio.ClientInterceptor] = []
        if self.proxy_auth is not None:
            interceptors += auth_interceptors(self.proxy_auth, "proxy-authorization", retry_unauthenticated=False)
        if with_auth and self.auth is not None:
            interceptors += auth_interceptors(self.auth, self.auth_header)
        return interceptors

    async def _open(self, interceptors: list[grpc.aio.ClientInterceptor]) -> grpc.aio.Channel:
        options = list(self.grpc_options)
        if self.insecure:
            return grpc.aio.insecure_channel(
                self.endpoint.target, options=options, compression=self.compression, interceptors=interceptors or None
            )
        credentials, extra = await self._credentials()
        return grpc.aio.secure_channel(
            self.endpoint.target,
            credentials,
            options=_merge(options, extra),
            compression=self.compression,
            interceptors=interceptors or None,
        )


def _merge(base: Sequence[tuple[str, Any]], override: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    keys = {k for k, _ in override}
    return [(k, v) for k, v in base if k not in keys] + list(override)


def _verify_for_http(cfg: ChannelConfig, ca_cert_file_path: str | None) -> bool | ssl.SSLContext:
    if cfg.insecure_skip_verify:
        return False
    if ca_cert_file_path:
        return ssl.create_default_context(cafile=ca_cert_file_path)
    return True


def channel_config(
    endpoint: str | None = None,
    api_key: str | None = None,
    insecure: bool | None = None,
    insecure_skip_verify: bool | None = None,
    ca_cert_file_path: str | None = None,
    ssl_credentials: grpc.ChannelCredentials | None = None,
    grpc_options: Sequence[tuple[str, Any]] | None = None,
    compression: grpc.Compression | None = None,
    http_session: httpx.AsyncClient | None = None,
    proxy_command: Sequence[str] | None = None,
    **kwargs: Any,
) -> ChannelConfig:
    """Validate the options and build a loop-independent :class:`ChannelConfig`.

    kwargs: ``client_id``, ``client_secret`` (alias ``client_credentials_secret``),
    ``token`` (static bearer), ``token_command`` (alias ``command``, an argv list),
    ``auth_type`` ("client_credentials" | "device_flow" | "token" | "command" | "none"),
    ``scopes``, ``audience``, ``header_key`` (fixed header name), ``keepalive_time_ms``,
    ``keepalive_timeout_ms``, ``options`` (more grpc options), ``device_prompt``
    (callable receiving the sign-in message).

    ``http_session`` is used for token requests; it is bound to one event loop, so
    pass it only when the config is used on that loop alone.
    """
    unknown = set(kwargs) - _KNOWN_KWARGS
    if unknown:
        raise ConfigurationError(f"unknown channel option(s): {', '.join(sorted(unknown))}")
    key = parse_api_key(api_key) if api_key else None
    raw_endpoint = endpoint or (key.endpoint if key else None)
    if not raw_endpoint:
        raise ConfigurationError("no endpoint: pass endpoint= or an api_key that contains one")
    ep = parse_endpoint(raw_endpoint, insecure=insecure)
    if ep.tls is not None and insecure is not None and insecure == ep.tls:
        raise ConfigurationError(
            f"endpoint {raw_endpoint!r} says {'https' if ep.tls else 'http'} but insecure={insecure} was given"
        )
    plain = bool(insecure) if ep.tls is None else not ep.tls
    if plain and (ca_cert_file_path or insecure_skip_verify or ssl_credentials):
        raise ConfigurationError(
            "TLS options (ca_cert_file_path, insecure_skip_verify, ssl_credentials) need a TLS endpoint, "
            "not insecure=True"
        )
    ca_pem: bytes | None = None
    if ca_cert_file_path:
        try:
            with open(ca_cert_file_path, "rb") as f:
                ca_pem = f.read()
        except OSError as e:
            raise ConfigurationError(
                f"cannot read CA certificate file {ca_cert_file_path!r}: {e.strerror or e}"
            ) from None
        if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise ConfigurationError(f"CA certificate file {ca_cert_file_path!r} contains no PEM certificate")

    options = list(DEFAULT_GRPC_OPTIONS)
    for k in ("keepalive_time_ms", "keepalive_timeout_ms"):
        if k in kwargs:
            options = _merge(options, [(f"grpc.{k}", int(kwargs[k]))])
    options = _merge(options, list(kwargs.get("options") or ()))
    options = _merge(options, list(grpc_options or ()))

    cfg = ChannelConfig(
        endpoint=ep,
        insecure=plain,
        insecure_skip_verify=bool(insecure_skip_verify),
        ca_cert_pem=ca_pem,
        ssl_credentials=ssl_credentials,
        grpc_options=tuple(options),
        compression=compression,
        proxy_auth=CommandToken(list(proxy_command)) if proxy_command else None,
    )
    auth = _auth_source(cfg, key, kwargs, http_session, _verify_for_http(cfg, ca_cert_file_path) if not plain else True)
    header = kwargs.get("header_key")
    # replace() keeps the same _trust_cache dict, so the discovery channel (made by
    # the auth-less cfg) and the final config fetch a skip-verify chain only once.
    return dataclasses.replace(cfg, auth=auth, auth_header=header.lower() if header else None)


def _auth_source(
    cfg: ChannelConfig,
    key: Any,
    kw: dict[str, Any],
    http_session: httpx.AsyncClient | None,
    verify: bool | ssl.SSLContext,
) -> TokenSource | None:
    client_id = kw.get("client_id") or (key.client_id if key else None)
    client_secret = (
        kw.get("client_secret") or kw.get("client_credentials_secret") or (key.client_secret if key else None)
    )
    command = kw.get("token_command") or kw.get("command")
    requested = kw.get("auth_type")
    if requested is not None:
        kind = _AUTH_TYPES.get(str(requested).lower())
        if kind is None:
            raise ConfigurationError(
                f"unsupported auth_type {requested!r}; use client_credentials, device_flow, token, command or none"
            )
    elif key or (client_id and client_secret):
        kind = "client_credentials"
    elif kw.get("token"):
        kind = "token"
    elif command:
        kind = "command"
    else:
        return None
    scopes = kw.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.split()
    common: dict[str, Any] = dict(
        channel_factory=cfg.open_unauthenticated,
        scopes=scopes,
        audience=kw.get("audience"),
        http_session=http_session,
        verify=verify,
        proxy=cfg.proxy_auth,
    )
    if kind == "none":
        return None
    if kind == "token":
        if not kw.get("token"):
            raise ConfigurationError("auth_type='token' needs token=")
        return StaticToken(kw["token"])
    if kind == "command":
        if not command:
            raise ConfigurationError("auth_type='command' needs token_command=[argv...]")
        return CommandToken(list(command))
    if kind == "device_flow":
        return DeviceFlowToken(client_id=client_id, prompt=kw.get("device_prompt"), **common)
    if not client_id or not client_secret:
        raise ConfigurationError("client credentials need client_id and client_secret (or an api_key)")
    return ClientCredentialsToken(client_id=client_id, client_secret=client_secret, **common)


async def create_channel(
    endpoint: str | None = None,
    api_key: str | None = None,
    insecure: bool | None = None,
    insecure_skip_verify: bool | None = None,
    ca_cert_file_path: str | None = None,
    ssl_credentials: grpc.ChannelCredentials | None = None,
    grpc_options: Sequence[tuple[str, Any]] | None = None,
    compression: grpc.Compression | None = None,
    http_session: httpx.AsyncClient | None = None,
    proxy_command: list[str] | None = None,
    **kwargs: Any,
) -> grpc.aio.Channel:
    """Create an authenticated ``grpc.aio`` channel on the running event loop.

    TLS unless ``insecure=True`` or an ``http://`` endpoint. An ``api_key`` gives
    the endpoint (unless ``endpoint`` is passed) and client credentials. See
    :func:`channel_config` for the keyword options. To reuse the token cache across
    event loops, keep a :class:`ChannelConfig` and call its ``open()`` per loop.
    """
    cfg = channel_config(
        endpoint,
        api_key,
        insecure,
        insecure_skip_verify,
        ca_cert_file_path,
        ssl_credentials,
        grpc_options,
        compression,
        http_session,
        proxy_command,
        **kwargs,
    )
    return await cfg.open()
