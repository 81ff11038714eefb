"""Credentials for the Flyte API: API keys, token sources and gRPC interceptors.

Nothing here puts a secret or token into a repr, str, log line or exception.
"""

from ._apikey import ApiKey, encode_api_key, parse_api_key
from ._interceptors import auth_interceptors
from ._oauth import (
    ChannelFactory,
    ClientCredentialsToken,
    DeviceFlowToken,
    OAuthMetadata,
    basic_auth_header,
    discover_oauth_metadata,
)
from ._sources import CachedTokenSource, CommandToken, StaticToken, TokenSource, jwt_expiry

__all__ = [
    "ApiKey",
    "CachedTokenSource",
    "ChannelFactory",
    "ClientCredentialsToken",
    "CommandToken",
    "DeviceFlowToken",
    "OAuthMetadata",
    "StaticToken",
    "TokenSource",
    "auth_interceptors",
    "basic_auth_header",
    "discover_oauth_metadata",
    "encode_api_key",
    "jwt_expiry",
    "parse_api_key",
]
