"""Reading typed values out of strings, for orchestrator-templated inputs.

Orchestrator templates render strings, so where the declared type makes it unambiguous
the codec takes a ``str`` for it: ``"3"`` as an int, ``true/false/1/0/yes/no`` as a bool,
ISO-8601 as a datetime, seconds / ISO-8601 duration / ``[D day[s], ]HH:MM:SS`` (what
``str(timedelta)`` writes) as a timedelta, and ``""``/``"None"``/``"null"`` as ``None``.
These text rules are kept apart from the encoder (:mod:`._encode`), which decides
*when* to apply them; the struct rebuilder (:mod:`._structs`) uses the datetime and
duration parsers for the ISO strings inside struct data too.

``int_text`` and ``bool_text`` return ``None`` for text that is not of their kind; the
``parse_*`` functions raise ``ValueError``.
"""

from __future__ import annotations

import datetime
import re

__all__ = ["bool_text", "int_text", "is_none_text", "parse_datetime", "parse_duration"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_NONE_STRINGS = {"", "none", "null"}
_INT_RE = re.compile(r"^[+-]?\d+$")
_HMS_RE = re.compile(r"^(?:(?P<days>[+-]?\d+) days?, )?(?P<h>[+-]?\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")
_NUM = r"\d+(?:[.,]\d+)?"
# ISO-8601 durations without years and months (their length in seconds is not defined).
_ISO_DURATION_RE = re.compile(
    rf"^(?P<sign>[+-])?P(?:(?P<w>{_NUM})W)?(?:(?P<d>{_NUM})D)?"
    rf"(?:T(?:(?P<h>{_NUM})H)?(?:(?P<m>{_NUM})M)?(?:(?P<s>{_NUM})S)?)?$"
)


def int_text(text: str) -> int | None:
    """The integer written in ``text`` (optional sign, digits only), else ``None``."""
    t = text.strip()
    return int(t) if _INT_RE.match(t) else None


def bool_text(text: str) -> bool | None:
    """``True`` for ``true/1/yes``, ``False`` for ``false/0/no`` (any case), else ``None``."""
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


def is_none_text(text: str) -> bool:
    """Whether ``text`` spells ``None``: empty, ``none`` or ``null`` (any case)."""
    return text.strip().lower() in _NONE_STRINGS


def parse_datetime(text: str) -> datetime.datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take "Z"
        t = t[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(t)


def parse_duration(text: str) -> datetime.timedelta:
    t = text.strip()
    try:
        return datetime.timedelta(seconds=float(t))
    except ValueError:
        pass
    m = _HMS_RE.match(t)
    if m:
        days = int(m["days"] or 0)
        h = int(m["h"])
        sign = -1 if m["h"].startswith("-") else 1
        rest = datetime.timedelta(hours=abs(h), minutes=int(m["m"]), seconds=float(m["s"]))
        return datetime.timedelta(days=days) + sign * rest
    m = _ISO_DURATION_RE.match(t.upper())
    if m and any(m[k] for k in ("w", "d", "h", "m", "s")):

        def num(key: str) -> float:
            return float((m[key] or "0").replace(",", "."))

        td = datetime.timedelta(weeks=num("w"), days=num("d"), hours=num("h"), minutes=num("m"), seconds=num("s"))
        return -td if m["sign"] == "-" else td
    raise ValueError(f"not a duration: {text!r}")
