"""API keys: ``base64("endpoint:client_id:client_secret:org")``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ..._errors import ConfigurationError

__all__ = ["ApiKey", "encode_api_key", "parse_api_key"]


@dataclass(frozen=True, repr=False)
class ApiKey:
    endpoint: str
    client_id: str
    client_secret: str
    org: str = ""

    def __repr__(self) -> str:  # the secret never appears, not even in tracebacks
        return (
            f"ApiKey(endpoint={self.endpoint!r}, client_id={self.client_id!r}, client_secret='***', org={self.org!r})"
        )

    __str__ = __repr__


def encode_api_key(endpoint: str, client_id: str, client_secret: str, org: str = "") -> str:
    for name, value in (("client_id", client_id), ("client_secret", client_secret), ("org", org)):
        if ":" in value:
            raise ConfigurationError(f"an API key's {name} cannot contain ':'")
    return base64.b64encode(f"{endpoint}:{client_id}:{client_secret}:{org}".encode()).decode("ascii")


def parse_api_key(key: str) -> ApiKey:
    """Decode an API key. Split from the right: the endpoint may itself contain ':'.

    Errors say what is wrong with the shape and never repeat the key.
    """
    if not isinstance(key, str) or not key.strip():
        raise ConfigurationError("the API key is empty")
    text = key.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        try:  # keys are sometimes url-safe encoded
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ConfigurationError("the API key is not valid base64") from None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(
            "the API key does not decode to text (expected base64 of endpoint:client_id:client_secret:org)"
        ) from None
    parts = decoded.rsplit(":", 3)
    if len(parts) != 4:
        raise ConfigurationError(
            f"the API key has {len(parts)} ':'-separated fields, expected 4 (endpoint:client_id:client_secret:org)"
        )
    endpoint, client_id, client_secret, org = (p.strip() for p in parts)
    missing = [
        n for n, v in (("endpoint", endpoint), ("client_id", client_id), ("client_secret", client_secret)) if not v
    ]
    if missing:
        raise ConfigurationError(f"the API key has an empty {', '.join(missing)}")
    return ApiKey(endpoint=endpoint, client_id=client_id, client_secret=client_secret, org=org)
