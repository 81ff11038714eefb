"""Python value -> ``Literal`` of a declared ``LiteralType``: the encoder behind ``to_literal``.

:func:`encode` walks the declared type: primitives go in ``scalar.primitive`` (a naive
``datetime`` is taken as UTC, protobuf's ``FromDatetime`` rule; ``timedelta`` is a
``Duration``), ``list[T]`` is ``collection``, ``dict[str, T]`` is ``map``, STRUCT is msgpack
(:mod:`._structs`), unions are ``scalar.union`` (variant choice in
:mod:`._unions`), files, directories and data frames are ``scalar.blob`` /
``scalar.structured_dataset`` holding only a URI (a plain ``str`` URI is accepted too), and
enums send the member's name. With ``coerce``, strings are read as the declared type
(:mod:`._coerce`) and JSON text as a list, dict or struct; ``bool`` is never taken as
an int, an ``int`` is accepted for a float, and numbers as seconds for a timedelta.

A value that does not fit raises :class:`Mismatch` naming the path (``xs[2]``,
``cfg['port']``), the expected type and the given value; :func:`._literals.to_literal`
turns it into :class:`InvalidInputError`.
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import typing
from collections.abc import Mapping
from typing import Any

from flyteidl2.core import literals_pb2, types_pb2
from google.protobuf import duration_pb2, timestamp_pb2

from . import _coerce as coerce_text
from ._hints import is_dataclass_instance, is_pydantic_instance, is_struct_model, strip_annotated
from ._refs import DataFrameRef, DirRef, FileRef
from ._structs import build, pack, short_error, struct_data
from ._types import MSGPACK, describe
from ._unions import hint_for_variant, tagged_variant, variant_order

__all__ = ["Mismatch", "encode"]

_UTC = datetime.UTC
_INT64 = (-(2**63), 2**63 - 1)
_MAX_DURATION_S = 315_576_000_000  # protobuf Duration's documented range


def _given(value: Any) -> str:
    """Type name and a short repr: enough to recognise the value, never a wall of text."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class Mismatch(Exception):
    """Internal: a value does not fit a type (turned into InvalidInputError by the caller)."""

    def __init__(self, name: str, expected: str, given: str) -> None:
        super().__init__(name, expected, given)
        self.name, self.expected, self.given = name, expected, given


def _primitive(**kw: Any) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**kw)))


def _none_literal() -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))


def encode(value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool) -> literals_pb2.Literal:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return _encode_simple(value, lt, name, hint, coerce=coerce)
    if kind == "union_type":
        return _encode_union(value, lt, name, hint, coerce=coerce)
    if kind == "collection_type":
        return _encode_collection(value, lt, name, hint, coerce=coerce)
    if kind == "map_value_type":
        return _encode_map(value, lt, name, hint, coerce=coerce)
    if kind == "blob":
        return _encode_blob(value, lt, name)
    if kind == "structured_dataset_type":
        return _encode_dataframe(value, lt, name)
    if kind == "enum_type":
        return _encode_enum(value, lt, name)
    raise Mismatch(name, describe(lt), f"{_given(value)} (this client cannot encode {describe(lt)} values)")


def _encode_simple(
    value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool
) -> literals_pb2.Literal:
    simple = lt.simple
    bad = Mismatch(name, describe(lt), _given(value))
    text = value if coerce and isinstance(value, str) else None
    if simple == types_pb2.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif text is not None and (parsed := coerce_text.int_text(text)) is not None:
            number = parsed
        else:
            raise bad
        if not _INT64[0] <= number <= _INT64[1]:
            raise Mismatch(name, "int (64-bit)", _given(value) + " (out of range)")
        return _primitive(integer=number)
    if simple == types_pb2.FLOAT:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return _primitive(float_value=float(value))
            except OverflowError:
                raise Mismatch(name, "float", _given(value) + " (too large for a float)") from None
        if text is not None:
            try:
                return _primitive(float_value=float(text))
            except ValueError:
                pass
        raise bad
    if simple == types_pb2.STRING:
        if isinstance(value, str):
            return _primitive(string_value=value)
        raise bad
    if simple == types_pb2.BOOLEAN:
        if isinstance(value, bool):
            return _primitive(boolean=value)
        if text is not None and (flag := coerce_text.bool_text(text)) is not None:
            return _primitive(boolean=flag)
        raise bad
    if simple == types_pb2.DATETIME:
        return _primitive(datetime=_timestamp(value, name, lt, hint, text))
    if simple == types_pb2.DURATION:
        return _primitive(duration=_duration(value, name, lt, text, coerce=coerce))
    if simple == types_pb2.NONE:
        if value is None or (text is not None and coerce_text.is_none_text(text)):
            return _none_literal()
        raise bad
    if simple == types_pb2.STRUCT:
        return _encode_struct(value, lt, name, hint, coerce=coerce)
    raise Mismatch(name, describe(lt), f"{_given(value)} (this client cannot encode {describe(lt)} values)")


def _timestamp(
    value: Any, name: str, lt: types_pb2.LiteralType, hint: Any, text: str | None
) -> timestamp_pb2.Timestamp:
    dt: datetime.datetime | None = None
    if isinstance(value, datetime.datetime):
        dt = value
    elif isinstance(value, datetime.date) and hint is datetime.date:
        dt = datetime.datetime.combine(value, datetime.time.min)  # the SDK's DateTransformer
    elif text is not None:
        try:
            dt = coerce_text.parse_datetime(text)
        except ValueError:
            pass
    if dt is None:
        raise Mismatch(name, describe(lt), _given(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)  # documented: naive means UTC
    ts = timestamp_pb2.Timestamp()
    try:
        ts.FromDatetime(dt)
    except (OverflowError, ValueError) as e:
        raise Mismatch(name, describe(lt), f"{_given(value)} ({e})") from None
    return ts


def _duration(
    value: Any, name: str, lt: types_pb2.LiteralType, text: str | None, *, coerce: bool
) -> duration_pb2.Duration:
    td: datetime.timedelta | None = None
    if isinstance(value, datetime.timedelta):
        td = value
    elif coerce and isinstance(value, (int, float)) and not isinstance(value, bool):
        # a coercion, so that in Union[timedelta, float] a number stays a float
        try:
            td = datetime.timedelta(seconds=value)  # numbers are seconds (what to_json_safe emits)
        except (OverflowError, ValueError):
            td = None
    elif text is not None:
        try:
            td = coerce_text.parse_duration(text)
        except (ValueError, OverflowError):
            td = None
    if td is None:
        raise Mismatch(name, describe(lt), _given(value))
    if abs(td.total_seconds()) > _MAX_DURATION_S:
        raise Mismatch(name, describe(lt), _given(value) + " (beyond the 10000-year Duration range)")
    d = duration_pb2.Duration()
    d.FromTimedelta(td)
    return d


def _parse_json(value: Any, name: str, lt: types_pb2.LiteralType, want: type) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise Mismatch(name, describe(lt), _given(value) + " (not valid JSON)") from None
    if not isinstance(parsed, want):
        raise Mismatch(name, describe(lt), _given(value))
    return parsed


def _encode_collection(
    value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool
) -> literals_pb2.Literal:
    if coerce and isinstance(value, str):
        value = _parse_json(value, name, lt, list)
    if not isinstance(value, (list, tuple)):
        raise Mismatch(name, describe(lt), _given(value))
    args = typing.get_args(hint) if typing.get_origin(hint) is list else ()
    sub_hint = strip_annotated(args[0]) if args else None
    items = [encode(v, lt.collection_type, f"{name}[{i}]", sub_hint, coerce=coerce) for i, v in enumerate(value)]
    return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=items))


def _encode_map(value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool) -> literals_pb2.Literal:
    if coerce and isinstance(value, str):
        value = _parse_json(value, name, lt, dict)
    if not isinstance(value, Mapping):
        raise Mismatch(name, describe(lt), _given(value))
    args = typing.get_args(hint) if typing.get_origin(hint) is dict else ()
    sub_hint = strip_annotated(args[1]) if len(args) == 2 else None
    out: dict[str, literals_pb2.Literal] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise Mismatch(f"{name}[{k!r}]", "a str key", _given(k))
        out[k] = encode(v, lt.map_value_type, f"{name}[{k!r}]", sub_hint, coerce=coerce)
    return literals_pb2.Literal(map=literals_pb2.LiteralMap(literals=out))


def _required_fields(lt: types_pb2.LiteralType) -> list[str]:
    if not lt.HasField("metadata") or "required" not in lt.metadata.fields:
        return []
    req = lt.metadata.fields["required"]
    if req.WhichOneof("kind") != "list_value":
        return []
    return [v.string_value for v in req.list_value.values if v.WhichOneof("kind") == "string_value"]


def _encode_struct(
    value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool
) -> literals_pb2.Literal:
    if coerce and isinstance(value, str):
        value = _parse_json(value, name, lt, dict)
    model = hint if is_struct_model(hint) else None
    if model is not None and isinstance(value, Mapping):
        try:  # like the SDK: a dict given for a dataclass/model is validated into one
            value = build(model, dict(value))
        except (TypeError, ValueError) as e:
            raise Mismatch(name, describe(lt), f"{_given(value)} ({short_error(e)})") from None
    is_object = is_pydantic_instance(value) or is_dataclass_instance(value)
    if not (is_object or isinstance(value, Mapping)) or (model is not None and not isinstance(value, model)):
        raise Mismatch(name, describe(lt), _given(value))
    try:
        data = struct_data(value)
    except TypeError as e:
        raise Mismatch(name, describe(lt), f"{_given(value)} ({e})") from None
    if model is None and isinstance(value, Mapping):
        # Without the class, at least check the schema's required fields: the task would
        # fail on them after a full scheduling round trip otherwise.
        missing = [f for f in _required_fields(lt) if f not in data]
        if missing:
            raise Mismatch(name, describe(lt), f"{_given(value)} (missing fields: {', '.join(missing)})")
    binary = literals_pb2.Binary(value=pack(data), tag=MSGPACK)
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(binary=binary))


def _uri_of(value: Any, ref_type: type) -> tuple[str, str | None] | None:
    if isinstance(value, (FileRef, DirRef, DataFrameRef)) and isinstance(value, ref_type):
        return value.uri, value.format
    if isinstance(value, str) and value:
        return value, None
    if isinstance(value, os.PathLike):
        return os.fspath(value), None
    return None


def _encode_blob(value: Any, lt: types_pb2.LiteralType, name: str) -> literals_pb2.Literal:
    multipart = lt.blob.dimensionality == types_pb2.BlobType.MULTIPART
    found = _uri_of(value, DirRef if multipart else FileRef)
    if found is None:
        raise Mismatch(name, describe(lt), _given(value))
    uri, fmt = found
    blob_type = types_pb2.BlobType(format=lt.blob.format if fmt is None else fmt, dimensionality=lt.blob.dimensionality)
    blob = literals_pb2.Blob(uri=str(uri), metadata=literals_pb2.BlobMetadata(type=blob_type))
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(blob=blob))


def _encode_dataframe(value: Any, lt: types_pb2.LiteralType, name: str) -> literals_pb2.Literal:
    found = _uri_of(value, DataFrameRef)
    if found is None:
        raise Mismatch(name, describe(lt), _given(value))
    uri, fmt = found
    sdt = types_pb2.StructuredDatasetType()
    sdt.CopyFrom(lt.structured_dataset_type)  # the SDK keeps the declared columns and format
    if fmt:
        sdt.format = fmt
    metadata = literals_pb2.StructuredDatasetMetadata(structured_dataset_type=sdt)
    sd = literals_pb2.StructuredDataset(uri=str(uri), metadata=metadata)
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(structured_dataset=sd))


def _encode_enum(value: Any, lt: types_pb2.LiteralType, name: str) -> literals_pb2.Literal:
    allowed = list(lt.enum_type.values)
    # The SDK sends a member's name (for Literal["a", "b"] the values are the names).
    candidate = value.name if isinstance(value, enum.Enum) else value
    if isinstance(candidate, str) and candidate in allowed:
        return _primitive(string_value=candidate)
    if isinstance(value, enum.Enum) and isinstance(value.value, str) and value.value in allowed:
        return _primitive(string_value=value.value)
    raise Mismatch(name, describe(lt), _given(value))


def _encode_union(value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool) -> literals_pb2.Literal:
    variants = list(lt.union_type.variants)
    order = variant_order(value, variants)
    # Strict pass first so a value of the right type is never re-interpreted; then, if
    # allowed, a coercing pass so "3" still finds an int variant.
    for strict in (True, False) if coerce else (True,):
        for i in order:
            variant = variants[i]
            try:
                inner = encode(value, variant, name, hint_for_variant(hint, variant, i), coerce=not strict)
            except Mismatch:
                continue
            union = literals_pb2.Union(value=inner, type=tagged_variant(variant, hint, i))
            return literals_pb2.Literal(scalar=literals_pb2.Scalar(union=union))
    raise Mismatch(name, describe(lt), _given(value))
