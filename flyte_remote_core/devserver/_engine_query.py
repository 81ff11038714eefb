"""Query helpers shared by the services that list engine state (runs, tasks, triggers).

:func:`select_where` builds ``SELECT ... WHERE col=? AND ...`` over the engine's SQLite
tables; :func:`list_page` reads the optional ``ListRequest`` of a List* RPC.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flyteidl2.common import list_pb2

from ._listing import Page, page_of


def select_where(
    sql: str, conditions: Iterable[tuple[str, Any]], *, skip_empty: bool = False
) -> tuple[str, tuple]:
    """``sql`` plus ``WHERE col=? AND ...`` for ``(column, value)`` pairs, and the arguments.

    With ``skip_empty`` a pair whose value is empty (``""``/``None``) matches everything.
    """
    pairs = [(col, val) for col, val in conditions if val or not skip_empty]
    if pairs:
        sql += " WHERE " + " AND ".join(f"{col}=?" for col, _ in pairs)
    return sql, tuple(val for _, val in pairs)


def list_page(request) -> tuple[list_pb2.ListRequest | None, Page]:
    """The request's ``ListRequest`` (None when unset) and the page it asks for."""
    lr = request.request if request.HasField("request") else None
    return lr, page_of(lr)
