"""``Literal`` -> Python value: the decoder behind ``from_literal``, re-exported by ``_literals``.

Decoding follows the SDK's readers: every ``datetime`` comes back timezone-aware UTC; an
INTEGER literal decodes into a ``float`` hint and a FLOAT literal into an ``int`` hint; a
msgpack STRUCT (or a ``scalar.generic`` protobuf Struct, as the UI sends) is rebuilt into
the dataclass or pydantic model the hint names, else returned as a plain ``dict``
(:mod:`._structs`); a union literal decodes its value with the member hint of the
variant it names (:mod:`._unions`), and a bare value where a union hint was declared
tries each member; blobs and data frames become :class:`FileRef`/:class:`DirRef`/
:class:`DataFrameRef` (or their URI for a ``str`` hint). ``Literal.offloaded_metadata`` is
resolved by reading the serialized Literal from its URI (``read_uri`` callback, else
:func:`._storage.read_uri`).
"""

from __future__ import annotations

import datetime
import typing
from collections.abc import Callable
from typing import Any

from flyteidl2.core import literals_pb2, types_pb2
from google.protobuf import json_format

from . import _storage
from ._hints import NoneType, is_enum_type, is_union, strip_annotated
from ._refs import DataFrameRef, DirRef, FileRef
from ._structs import rebuild, unpack
from ._types import MSGPACK, describe
from ._unions import hint_for_variant, is_simple

__all__ = ["ReadUri", "from_literal"]

ReadUri = Callable[[str], bytes]

_UTC = datetime.UTC


def from_literal(
    lit: literals_pb2.Literal,
    lt: types_pb2.LiteralType | None = None,
    *,
    python_type: Any = None,
    read_uri: ReadUri | None = None,
) -> Any:
    """Decode ``lit``. ``python_type`` (a hint) picks classes, ``lt`` helps when it is absent.

    Raises ``TypeError`` when the literal cannot become ``python_type``.
    """
    hint = strip_annotated(python_type)
    kind = lit.WhichOneof("value")
    if kind == "offloaded_metadata":
        meta = lit.offloaded_metadata
        data = (read_uri or _storage.read_uri)(meta.uri)
        inner = literals_pb2.Literal.FromString(data)
        inferred = meta.inferred_type if meta.HasField("inferred_type") else None
        return from_literal(inner, lt if lt is not None else inferred, python_type=hint, read_uri=read_uri)
    if kind == "collection":
        sub_lt = lt.collection_type if lt is not None and lt.HasField("collection_type") else None
        sub = _arg(hint, list, 0)
        return [from_literal(x, sub_lt, python_type=sub, read_uri=read_uri) for x in lit.collection.literals]
    if kind == "map":
        sub_lt = lt.map_value_type if lt is not None and lt.HasField("map_value_type") else None
        sub = _arg(hint, dict, 1)
        return {k: from_literal(v, sub_lt, python_type=sub, read_uri=read_uri) for k, v in lit.map.literals.items()}
    if kind == "scalar":
        return _decode_scalar(lit, lt, hint, read_uri)
    raise TypeError(f"cannot decode an empty literal{' as ' + describe(lt) if lt is not None else ''}")


def _arg(hint: Any, origin: type, index: int) -> Any:
    if typing.get_origin(hint) is origin:
        args = typing.get_args(hint)
        if len(args) > index:
            return strip_annotated(args[index])
    return None


def _decode_scalar(
    lit: literals_pb2.Literal, lt: types_pb2.LiteralType | None, hint: Any, read_uri: ReadUri | None
) -> Any:
    scalar = lit.scalar
    kind = scalar.WhichOneof("value")
    if kind == "union":
        return _decode_union(scalar.union, hint, read_uri)
    if hint is not None and is_union(hint):
        # A bare value where a union was declared (e.g. entered in the UI): try the members.
        if kind == "none_type" and NoneType in typing.get_args(hint):
            return None
        errors = []
        for arg in typing.get_args(hint):
            if arg is NoneType:
                continue
            try:
                return _decode_scalar(lit, None, strip_annotated(arg), read_uri)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise TypeError(f"cannot decode a {kind} literal as {hint}: {'; '.join(errors)}")
    if kind == "primitive":
        return _decode_primitive(scalar.primitive, lt, hint)
    if kind == "none_type":
        return None
    if kind == "binary":
        if scalar.binary.tag != MSGPACK:
            return bytes(scalar.binary.value)  # an encoding we do not know: hand over the bytes
        return rebuild(unpack(scalar.binary.value), hint)
    if kind == "generic":
        return rebuild(json_format.MessageToDict(scalar.generic), hint)
    if kind == "blob":
        blob = scalar.blob
        if hint is str:
            return blob.uri
        fmt = blob.metadata.type.format
        if blob.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART:
            return DirRef(blob.uri, fmt)
        return FileRef(blob.uri, fmt)
    if kind == "structured_dataset":
        sd = scalar.structured_dataset
        return sd.uri if hint is str else DataFrameRef(sd.uri, sd.metadata.structured_dataset_type.format)
    if kind == "schema":
        return scalar.schema.uri if hint is str else DataFrameRef(scalar.schema.uri)
    if kind == "error":
        raise TypeError(f"the literal holds an error from node {scalar.error.failed_node_id!r}: {scalar.error.message}")
    raise TypeError(f"cannot decode scalar kind {kind!r}")


def _decode_primitive(p: literals_pb2.Primitive, lt: types_pb2.LiteralType | None, hint: Any) -> Any:
    which = p.WhichOneof("value")
    if which == "integer":
        wants_float = hint is float or (hint is None and lt is not None and is_simple(lt, types_pb2.FLOAT))
        return float(p.integer) if wants_float else p.integer
    if which == "float_value":
        wants_int = hint is int or (hint is None and lt is not None and is_simple(lt, types_pb2.INTEGER))
        return int(p.float_value) if wants_int else p.float_value
    if which == "string_value":
        if is_enum_type(hint):
            try:
                return hint[p.string_value]  # the SDK sends members by name
            except KeyError:
                return hint(p.string_value)
        return p.string_value
    if which == "boolean":
        return p.boolean
    if which == "datetime":
        dt = p.datetime.ToDatetime(tzinfo=_UTC)
        return dt.date() if hint is datetime.date else dt
    if which == "duration":
        return p.duration.ToTimedelta()
    raise TypeError("cannot decode an empty primitive")


def _decode_union(u: literals_pb2.Union, hint: Any, read_uri: ReadUri | None) -> Any:
    variant = u.type
    # A non-union hint is the member itself (e.g. decoding an Optional[int] output with hint int).
    sub_hint = hint if hint is not None and not is_union(hint) else hint_for_variant(hint, variant)
    declared = variant if variant.WhichOneof("type") else None
    return from_literal(u.value, declared, python_type=sub_hint, read_uri=read_uri)
