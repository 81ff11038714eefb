"""Which strings an integration scrubs from the messages it shows (logs, task failures, metadata).

Errors from the core are redacted already; an integration adds what it builds itself
from them and from remote log lines. :func:`secrets_of` says what to scrub for the settings
a client was built from, so every integration scrubs the same list
(pass it to :func:`flyte_remote_core.redact` or :func:`classify`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import FlyteInputError
from .._transport import parse_api_key

__all__ = ["SECRET_SETTINGS", "secrets_of"]

# Client settings whose values are secrets.
SECRET_SETTINGS = ("api_key", "client_secret")


def secrets_of(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The secret values in client ``settings``: the API key, the client secret, and the
    client secret inside the API key (a key is ``base64(endpoint:client_id:client_secret:org)``)."""
    found = [str(settings[name]) for name in SECRET_SETTINGS if settings.get(name)]
    if settings.get("api_key"):
        try:
            found.append(parse_api_key(str(settings["api_key"])).client_secret)
        except (FlyteInputError, ValueError):  # a malformed key: the client says so, without repeating it
            pass
    return tuple(dict.fromkeys(s for s in found if s))
