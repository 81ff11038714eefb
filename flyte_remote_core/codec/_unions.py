"""Union variants: which ``LiteralType`` variant a value or hint belongs to.

A union literal is ``scalar.union{value, type}`` where ``type`` is the chosen variant with
its ``structure.tag``. Encoding has to pick that variant (trying the obvious home of a
value first, so ``3`` in ``Union[float, int]`` stays an int) and find the member of a
``Union[...]`` hint that produced it; decoding has to find the member hint for the variant
the literal names. Comparing variants ignores the decorations (schema, tag, annotation)
that do not change what a value looks like, except that two tags or two struct titles
that differ make different variants.

The encoder (:mod:`._encode`) and decoder (:mod:`._decode`) share these
helpers; the encoding loop itself stays with the encoder since it recurses into it.
"""

from __future__ import annotations

import datetime
import typing
from collections.abc import Callable, Mapping
from typing import Any

from flyteidl2.core import types_pb2

from ._hints import is_dataclass_instance, is_pydantic_instance, is_union, strip_annotated
from ._refs import DataFrameRef, DirRef, FileRef
from ._types import literal_type_for, union_tag_for

__all__ = ["hint_for_variant", "is_simple", "literal_type_for_or_none", "same_type", "tagged_variant", "variant_order"]


def is_simple(lt: types_pb2.LiteralType, simple: int) -> bool:
    return lt.WhichOneof("type") == "simple" and lt.simple == simple


_NATURAL: list[tuple[type | tuple[type, ...], Callable[[types_pb2.LiteralType], bool]]] = [
    (bool, lambda v: is_simple(v, types_pb2.BOOLEAN)),
    (int, lambda v: is_simple(v, types_pb2.INTEGER)),
    (float, lambda v: is_simple(v, types_pb2.FLOAT)),
    (str, lambda v: is_simple(v, types_pb2.STRING) or v.HasField("enum_type")),
    (datetime.datetime, lambda v: is_simple(v, types_pb2.DATETIME)),
    (datetime.timedelta, lambda v: is_simple(v, types_pb2.DURATION)),
    ((list, tuple), lambda v: v.HasField("collection_type")),
    (Mapping, lambda v: v.HasField("map_value_type") or is_simple(v, types_pb2.STRUCT)),
    ((FileRef, DirRef), lambda v: v.HasField("blob")),
    (DataFrameRef, lambda v: v.HasField("structured_dataset_type")),
]


def _natural(value: Any, variant: types_pb2.LiteralType) -> bool:
    """Whether ``variant`` is the obvious home of ``value`` (used before trying the others)."""
    if value is None:
        return is_simple(variant, types_pb2.NONE)
    if is_pydantic_instance(value) or is_dataclass_instance(value):
        return is_simple(variant, types_pb2.STRUCT)
    for py, test in _NATURAL:
        if isinstance(value, py):
            return test(variant)
    return False


def variant_order(value: Any, variants: list[types_pb2.LiteralType]) -> list[int]:
    """Indexes of ``variants`` to try for ``value``: its obvious homes first, else in order."""
    return sorted(range(len(variants)), key=lambda i: not _natural(value, variants[i]))


def hint_for_variant(hint: Any, variant: types_pb2.LiteralType, index: int | None = None) -> Any:
    """The member of a Union hint that produced ``variant`` (same order as the variants).

    The member at ``index`` is checked first, then every member in order; ``None`` if
    ``hint`` is not a union or no member matches.
    """
    if hint is None or not is_union(hint):
        return None
    args = typing.get_args(hint)
    if index is not None and index < len(args) and same_type(literal_type_for_or_none(args[index]), variant):
        return strip_annotated(args[index])
    for a in args:
        if same_type(literal_type_for_or_none(a), variant):
            return strip_annotated(a)
    return None


def tagged_variant(variant: types_pb2.LiteralType, hint: Any, index: int) -> types_pb2.LiteralType:
    """A copy of ``variant`` to write as a union's ``type``, tagged as the SDK would if untagged."""
    tagged = types_pb2.LiteralType()
    tagged.CopyFrom(variant)
    if not tagged.HasField("structure"):
        try:  # a foreign interface without tags: tag it the way the SDK would
            sub = hint_for_variant(hint, variant, index)
            if sub is not None:
                tagged.structure.tag = union_tag_for(sub)
        except TypeError:
            pass
    return tagged


def literal_type_for_or_none(tp: Any) -> types_pb2.LiteralType | None:
    try:
        return literal_type_for(tp)
    except TypeError:
        return None


def _essence(lt: types_pb2.LiteralType) -> types_pb2.LiteralType:
    """``lt`` without the decorations (schema, tags, annotation) that do not change the kind."""
    e = types_pb2.LiteralType()
    e.CopyFrom(lt)
    for f in ("metadata", "structure", "annotation"):
        e.ClearField(f)
    return e


def same_type(a: types_pb2.LiteralType | None, b: types_pb2.LiteralType) -> bool:
    if a is None:
        return False
    if a.HasField("structure") and b.HasField("structure") and a.structure.tag != b.structure.tag:
        return False
    if is_simple(a, types_pb2.STRUCT) and is_simple(b, types_pb2.STRUCT):
        ta = a.metadata.fields.get("title")
        tb = b.metadata.fields.get("title")
        return ta is None or tb is None or ta == tb
    return bool(_essence(a) == _essence(b))
