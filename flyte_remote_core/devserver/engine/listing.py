"""Listing and queries shared by the List* RPCs: pages, filters, sorting, WHERE clauses.

:func:`list_page` reads the optional ``ListRequest`` of a List* request (limit, offset
token); :func:`apply_filters` and :func:`apply_sort` apply its filters and sort keys
to rows or messages; :func:`select_where` builds ``SELECT ... WHERE col=? AND ...``
over the engine's SQLite tables; :func:`token_window` pages requests that carry a bare
``limit``/``token`` instead of a ``ListRequest``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import list_pb2

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

F = list_pb2.Filter
T = TypeVar("T")
Fields = dict[str, Callable[[Any], Any]]  # a filter or sort field name -> its getter


@dataclass
class Page:
    offset: int
    limit: int

    def token_after(self, returned: int, total: int | None = None) -> str:
        nxt = self.offset + returned
        if returned < self.limit or (total is not None and nxt >= total):
            return ""
        return str(nxt)


def page_of(req: list_pb2.ListRequest | None) -> Page:
    limit = req.limit if req is not None and req.limit else DEFAULT_LIMIT
    limit = min(int(limit), MAX_LIMIT)
    token = req.token if req is not None else ""
    offset = 0
    if token:
        try:
            offset = int(token)
        except ValueError:
            raise ConnectError(Code.INVALID_ARGUMENT, f"invalid page token {token!r}") from None
        if offset < 0:
            raise ConnectError(Code.INVALID_ARGUMENT, f"invalid page token {token!r}")
    return Page(offset, limit)


def _cmp(fn: list_pb2.Filter.Function, value: Any, wanted: Sequence[str]) -> bool:
    sval = "" if value is None else str(value)
    w0 = wanted[0] if wanted else ""
    if fn == F.EQUAL:
        return sval == w0
    if fn == F.NOT_EQUAL:
        return sval != w0
    if fn == F.VALUE_IN:
        return sval in wanted
    if fn == F.VALUE_NOT_IN:
        return sval not in wanted
    if fn == F.CONTAINS:
        return w0 in sval
    if fn == F.CONTAINS_CASE_INSENSITIVE:
        return w0.lower() in sval.lower()
    if fn == F.ENDS_WITH:
        return sval.endswith(w0)
    if fn == F.NOT_ENDS_WITH:
        return not sval.endswith(w0)
    if fn == F.EXISTS:
        return bool(sval)
    if fn == F.NOT_EXISTS:
        return not sval
    a: Any
    b: Any
    try:
        a, b = float(value), float(w0)
    except (TypeError, ValueError):
        a, b = sval, w0
    return {
        F.GREATER_THAN: a > b,
        F.GREATER_THAN_OR_EQUAL: a >= b,
        F.LESS_THAN: a < b,
        F.LESS_THAN_OR_EQUAL: a <= b,
    }.get(fn, False)


def apply_filters(items: list[T], filters: Sequence[list_pb2.Filter], fields: Fields) -> list[T]:
    """Keep items matching every filter; ``fields`` maps a filter field name to a getter."""
    for f in filters:
        getter = fields.get(f.field) or fields.get(f.field.rsplit(".", 1)[-1])
        if getter is None:
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                f"unsupported filter field {f.field!r}; supported: {', '.join(sorted(fields))}",
            )
        items = [it for it in items if _cmp(f.function, getter(it), list(f.values))]
    return items


def sort_keys(req: list_pb2.ListRequest | None) -> list[list_pb2.Sort]:
    if req is None:
        return []
    out = list(req.sort_by_fields)
    if req.HasField("sort_by") and req.sort_by.key:
        out.insert(0, req.sort_by)
    return out


def apply_sort(items: list[T], sorts: Sequence[list_pb2.Sort], fields: Fields) -> list[T]:
    for s in reversed(list(sorts)):
        getter = fields.get(s.key) or fields.get(s.key.rsplit(".", 1)[-1])
        if getter is None:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"unsupported sort key {s.key!r}; supported: {', '.join(sorted(fields))}"
            )
        items = sorted(items, key=getter, reverse=s.direction == list_pb2.Sort.DESCENDING)
    return items


def equal_terms(
    conditions: Iterable[tuple[str, Any]], *, skip_empty: bool = False, table: str = ""
) -> tuple[list[str], tuple[Any, ...]]:
    """``col=?`` terms for ``(column, value)`` pairs (columns of ``table`` when given), and their arguments.

    With ``skip_empty`` a pair whose value is empty (``""``/``None``) matches everything: no term.
    """
    pairs = [(col, val) for col, val in conditions if val or not skip_empty]
    prefix = f"{table}." if table else ""
    return [f"{prefix}{col}=?" for col, _ in pairs], tuple(val for _, val in pairs)


def select_where(
    sql: str, conditions: Iterable[tuple[str, Any]], *, skip_empty: bool = False
) -> tuple[str, tuple[Any, ...]]:
    """``sql`` plus ``WHERE col=? AND ...`` for ``(column, value)`` pairs, and the arguments.

    See :func:`equal_terms` for ``skip_empty``.
    """
    terms, args = equal_terms(conditions, skip_empty=skip_empty)
    if terms:
        sql += " WHERE " + " AND ".join(terms)
    return sql, args


def list_page(request: Any) -> tuple[list_pb2.ListRequest | None, Page]:
    """The ``ListRequest`` of a List* request (None when unset) and the page it asks for."""
    lr = request.request if request.HasField("request") else None
    return lr, page_of(lr)


def token_window(items: list[T], token: str, limit: int) -> tuple[list[T], str]:
    """The page of ``items`` after a decimal offset ``token`` (bad tokens start over), and the next token."""
    offset = int(token) if token.isdigit() else 0
    limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    window = items[offset : offset + limit]
    return window, str(offset + limit) if offset + limit < len(items) else ""
