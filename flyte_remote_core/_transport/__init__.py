"""Transport: endpoints, channels (TLS, keepalive, auth) and the one RPC choke point.

Nothing above this layer touches ``grpc`` directly: every call goes through :class:`Rpc`,
which owns channels (one per endpoint configuration and event loop, shared process-wide),
retries (off unless a method is safe to repeat) and error translation into
:mod:`flyte_remote_core._errors`.
"""

from __future__ import annotations

from ._auth import ApiKey, encode_api_key, parse_api_key
from ._channel import ChannelConfig, channel_config, create_channel
from ._config import ClientConfig, settings_from_env
from ._endpoint import Endpoint, console_url, parse_endpoint, run_page_url
from ._rpc import RECONNECT, RetryPolicy, Rpc, collect_pages, is_transient

__all__ = [
    "RECONNECT",
    "ApiKey",
    "ChannelConfig",
    "ClientConfig",
    "Endpoint",
    "RetryPolicy",
    "Rpc",
    "channel_config",
    "collect_pages",
    "console_url",
    "create_channel",
    "encode_api_key",
    "is_transient",
    "parse_api_key",
    "parse_endpoint",
    "run_page_url",
    "settings_from_env",
]
