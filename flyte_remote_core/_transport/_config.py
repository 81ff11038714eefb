"""Connection settings: the frozen record a client is built from, and reading ``FLYTE_*``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """Everything needed to (re)build a channel. Secrets are kept out of ``repr``."""

    endpoint: str
    api_key: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token: str | None = None
    token_command: tuple[str, ...] | None = None
    proxy_command: tuple[str, ...] | None = None
    insecure: bool = False
    insecure_skip_verify: bool = False
    ca_cert_file_path: str | None = None
    grpc_options: tuple[tuple[str, Any], ...] = ()
    compression: Any = None
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def __repr__(self) -> str:
        auth = (
            "api_key"
            if self.api_key
            else "client_credentials"
            if self.client_id
            else ("token" if self.token else "command" if self.token_command else "none")
        )
        return f"ClientConfig(endpoint={self.endpoint!r}, insecure={self.insecure}, auth={auth})"

    def key(self) -> str:
        """A process-local identity of the connection settings (never logged: it holds secrets)."""
        return hashlib.sha256(repr(sorted(self.channel_kwargs().items(), key=lambda kv: kv[0])).encode()).hexdigest()

    def channel_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            endpoint=self.endpoint,
            api_key=self.api_key,
            insecure=self.insecure,
            insecure_skip_verify=self.insecure_skip_verify,
            ca_cert_file_path=self.ca_cert_file_path,
            grpc_options=list(self.grpc_options) or None,
            compression=self.compression,
            proxy_command=list(self.proxy_command) if self.proxy_command else None,
        )
        if self.client_id:
            kwargs["client_id"] = self.client_id
            kwargs["client_secret"] = self.client_secret
        if self.token:
            kwargs["token"] = self.token
        if self.token_command:
            kwargs["token_command"] = list(self.token_command)
        kwargs.update(dict(self.extra))
        return kwargs


def settings_from_env(overrides: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(endpoint, client keyword arguments)`` from ``FLYTE_*`` variables; ``overrides`` win."""
    env = os.environ
    values: dict[str, Any] = {
        "endpoint": env.get("FLYTE_ENDPOINT"),
        "api_key": env.get("FLYTE_API_KEY"),
        "client_id": env.get("FLYTE_CLIENT_ID"),
        "client_secret": env.get("FLYTE_CLIENT_SECRET"),
        "project": env.get("FLYTE_PROJECT"),
        "domain": env.get("FLYTE_DOMAIN"),
        "org": env.get("FLYTE_ORG"),
        "insecure": env.get("FLYTE_INSECURE", "").strip().lower() in _TRUE,
        "ca_cert_file_path": env.get("FLYTE_CA_CERT"),
    }
    values.update(overrides)
    endpoint = values.pop("endpoint", None)
    if not endpoint and values.get("api_key"):
        from ._auth import parse_api_key

        endpoint = parse_api_key(values["api_key"]).endpoint
    if not endpoint:
        raise ConfigurationError("FLYTE_ENDPOINT is not set (and no FLYTE_API_KEY names an endpoint)")
    return endpoint, {k: v for k, v in values.items() if v is not None}
