"""Run names: the backend's rule (a DNS-1035 label of at most 30 characters) and
deterministic names derived from a stable key and a launch attempt."""

from __future__ import annotations

import base64
import hashlib
import re

from ._errors import InvalidRunNameError

MAX_RUN_NAME = 30
_RUN_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def check_run_name(name: str) -> str:
    """Return ``name`` if the backend would accept it, else raise InvalidRunNameError."""
    if not isinstance(name, str):
        raise InvalidRunNameError(repr(name), f"expected a string, got {type(name).__name__}")
    if not name:
        raise InvalidRunNameError(name, "it is empty")
    if len(name) > MAX_RUN_NAME:
        raise InvalidRunNameError(name, f"it has {len(name)} characters, more than {MAX_RUN_NAME}")
    if not _RUN_NAME.fullmatch(name):
        raise InvalidRunNameError(name, "it has characters or a shape outside [a-z]([-a-z0-9]*[a-z0-9])?")
    return name


def deterministic_run_name(key: str, attempt: int = 1, *, prefix: str = "r") -> str:
    """A valid run name from a stable key and a launch attempt (1, 2, ...).

    ``prefix`` (a short lower-case word such as ``"af"`` or ``"dg"``) makes names readable
    in the console. The digest is 80 bits of SHA-256 in lower-case base32.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    prefix = re.sub(r"[^a-z0-9-]", "", prefix.lower()) or "r"
    if not prefix[0].isalpha():
        prefix = "r" + prefix
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode().lower().rstrip("=")
    suffix = f"-{attempt}"
    room = MAX_RUN_NAME - len(suffix) - 1
    prefix = prefix[: max(1, room - 16)]
    name = f"{prefix}-{digest[: room - len(prefix)]}{suffix}"
    return check_run_name(name)
