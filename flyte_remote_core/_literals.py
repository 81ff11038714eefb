"""Python values <-> ``flyteidl2.core.literals_pb2.Literal``, following the official SDK.

Wire encoding (each choice matches what ``flyte.types.TypeEngine`` writes and reads):

* Primitives go in ``scalar.primitive``. ``datetime`` is a ``Timestamp``: a naive datetime
  is taken as UTC (protobuf's ``FromDatetime`` rule), and every decoded datetime is
  timezone-aware UTC (the SDK decodes with ``tzinfo=utc`` too). ``timedelta`` is a
  ``Duration``. An INTEGER literal decodes into a ``float`` hint and a FLOAT literal into an
  ``int`` hint, as the SDK tolerates both.
* ``list[T]`` is ``collection``; ``dict[str, T]`` is ``map``.
* STRUCT (untyped dict, dataclass, pydantic model) is ``scalar.binary{value, tag="msgpack"}``.
  The bytes are msgpack of plain data, built the way the SDK's encoders do: a dataclass
  goes field by field as mashumaro does (``datetime``/``date`` as ISO strings, ``timedelta``
  as float seconds, enums by value, nested File/Dir as ``{"path", "name", "format",
  "hash"}``, DataFrame as ``{"uri", "format", "hash"}``); a pydantic model is
  ``model_dump(mode="json")`` (what the SDK's ``model_dump_json`` round trip gives).
  Decoding with a dataclass or pydantic ``python_type`` rebuilds the object (nested
  dataclasses included); without one, a plain ``dict`` comes back. ``scalar.generic``
  (a protobuf Struct, as the UI sends) is accepted on decode.
* Unions are ``scalar.union{value, type}`` where ``type`` is the chosen variant with its
  ``structure.tag``; ``None`` is the ``none_type`` (Void) scalar inside the union.
* Files, directories and data frames are ``scalar.blob`` / ``scalar.structured_dataset``
  holding only a URI (:mod:`._refs`); a plain ``str`` URI is accepted where they are declared.
* ``Literal.offloaded_metadata{uri, ...}`` is resolved on decode: the serialized Literal is
  read from the URI (``read_uri`` callback, else :func:`._storage.read_uri`) and decoded.

Orchestrator templates render strings, so where the declared type makes it unambiguous a
``str`` is coerced: ``"3"`` to int, ``"1.5"`` to float, ``true/false/1/0/yes/no`` to bool,
ISO-8601 to datetime, seconds / ISO-8601 duration / ``[D day[s], ]HH:MM:SS`` to timedelta,
JSON text to list/dict/struct, and ``""``/``"None"``/``"null"`` to ``None`` for an optional
input that has no str variant. ``bool`` is never taken as an int, an ``int`` is accepted
for a float, and numbers are accepted as seconds for a timedelta.

Defaults: :func:`inputs_to_literals` sends every task default explicitly (copied from the
task's ``NamedParameter`` list), as the SDK does, so the run records the exact inputs used.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import os
import pathlib
import re
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgpack
from flyteidl2.core import interface_pb2, literals_pb2, types_pb2
from flyteidl2.task import common_pb2
from google.protobuf import duration_pb2, json_format, timestamp_pb2

from . import _storage
from ._errors import InvalidInputError
from ._refs import DataFrameRef, DirRef, FileRef
from ._types import (
    MSGPACK,
    NoneType,
    describe,
    field_hints,
    is_dataclass_instance,
    is_dataclass_type,
    is_enum_type,
    is_pydantic_instance,
    is_pydantic_type,
    is_struct_model,
    is_union,
    literal_type_for,
    strip_annotated,
    union_tag_for,
)

__all__ = [
    "InvalidInputsError",
    "from_literal",
    "inputs_to_literals",
    "literals_to_python",
    "to_json_safe",
    "to_literal",
]

ReadUri = Callable[[str], bytes]

_UTC = datetime.timezone.utc
_INT64 = (-(2**63), 2**63 - 1)
_MAX_DURATION_S = 315_576_000_000  # protobuf Duration's documented range
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


class InvalidInputsError(InvalidInputError):
    """Several inputs are wrong at once; ``errors`` holds one :class:`InvalidInputError` each.

    Its attributes (``input_name``, ``expected``, ``given``, ``task``) are those of the first
    error, so code written for a single :class:`InvalidInputError` keeps working.
    """

    def __init__(self, errors: Sequence[InvalidInputError]) -> None:
        first = errors[0]
        super().__init__(first.input_name, expected=first.expected, given=first.given, task=first.task)
        self.errors = list(errors)
        where = f" of task {first.task!r}" if first.task else ""
        details = "; ".join(f"{e.input_name!r}: expected {e.expected}, got {e.given}" for e in self.errors)
        self.args = (f"{len(self.errors)} inputs{where} are invalid: {details}",)


def _given(value: Any) -> str:
    """Type name and a short repr: enough to recognise the value, never a wall of text."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class _Mismatch(Exception):
    """Internal: a value does not fit a type (turned into InvalidInputError by the caller)."""

    def __init__(self, name: str, expected: str, given: str) -> None:
        super().__init__(name, expected, given)
        self.name, self.expected, self.given = name, expected, given


# ---------------------------------------------------------------- string coercions


def _parse_datetime(text: str) -> datetime.datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take "Z"
        t = t[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(t)


def _parse_duration(text: str) -> datetime.timedelta:
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


# ---------------------------------------------------------------- encoding helpers


def _primitive(**kw: Any) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**kw)))


def _none_literal() -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))


def _ref_dict(ref: FileRef | DirRef | DataFrameRef) -> dict[str, Any]:
    # The shapes of flyte.io.File/Dir/DataFrame.model_dump(), which is what the SDK
    # writes when one of them sits inside a dataclass or model.
    if isinstance(ref, DataFrameRef):
        return {"uri": ref.uri, "format": ref.format, "hash": None}
    name = pathlib.PurePosixPath(ref.uri.rstrip("/")).name
    return {"path": ref.uri, "name": name, "format": ref.format, "hash": None}


def struct_data(value: Any) -> Any:
    """Plain msgpack-able data for a STRUCT, encoded as the SDK's mashumaro/pydantic do."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return struct_data(value.value)
    if isinstance(value, (FileRef, DirRef, DataFrameRef)):
        return _ref_dict(value)
    if is_pydantic_instance(value):
        return value.model_dump(mode="json")
    if is_dataclass_instance(value):
        return {f.name: struct_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {(k if isinstance(k, (str, int)) else str(k)): struct_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [struct_data(v) for v in value]
    if isinstance(value, (uuid.UUID, decimal.Decimal, pathlib.PurePath)):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} inside a struct")


# ---------------------------------------------------------------- value -> Literal


def to_literal(
    value: Any, lt: types_pb2.LiteralType, *, name: str = "value", python_type: Any = None
) -> literals_pb2.Literal:
    """Encode ``value`` as a literal of type ``lt``.

    ``python_type`` (the declared hint, when known) lets a ``dict`` be validated against a
    dataclass or model. Raises :class:`InvalidInputError` naming ``name`` (with a path such
    as ``xs[2]`` or ``cfg.port`` for nested values), the expected type and the given value.
    """
    if isinstance(value, literals_pb2.Literal):
        return value  # already encoded (e.g. a default copied from the task)
    try:
        return _encode(value, lt, name, strip_annotated(python_type), coerce=True)
    except _Mismatch as e:
        raise InvalidInputError(e.name, expected=e.expected, given=e.given) from None


def _encode(value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool) -> literals_pb2.Literal:
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
    raise _Mismatch(name, describe(lt), f"{_given(value)} (this client cannot encode {describe(lt)} values)")


def _encode_simple(
    value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool
) -> literals_pb2.Literal:
    simple = lt.simple
    bad = _Mismatch(name, describe(lt), _given(value))
    text = value if coerce and isinstance(value, str) else None
    if simple == types_pb2.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif text is not None and _INT_RE.match(text.strip()):
            number = int(text.strip())
        else:
            raise bad
        if not _INT64[0] <= number <= _INT64[1]:
            raise _Mismatch(name, "int (64-bit)", _given(value) + " (out of range)")
        return _primitive(integer=number)
    if simple == types_pb2.FLOAT:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return _primitive(float_value=float(value))
            except OverflowError:
                raise _Mismatch(name, "float", _given(value) + " (too large for a float)") from None
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
        if text is not None and text.strip().lower() in _TRUE | _FALSE:
            return _primitive(boolean=text.strip().lower() in _TRUE)
        raise bad
    if simple == types_pb2.DATETIME:
        return _primitive(datetime=_timestamp(value, name, lt, hint, text))
    if simple == types_pb2.DURATION:
        return _primitive(duration=_duration(value, name, lt, text, coerce=coerce))
    if simple == types_pb2.NONE:
        if value is None or (text is not None and text.strip().lower() in _NONE_STRINGS):
            return _none_literal()
        raise bad
    if simple == types_pb2.STRUCT:
        return _encode_struct(value, lt, name, hint, coerce=coerce)
    raise _Mismatch(name, describe(lt), f"{_given(value)} (this client cannot encode {describe(lt)} values)")


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
            dt = _parse_datetime(text)
        except ValueError:
            pass
    if dt is None:
        raise _Mismatch(name, describe(lt), _given(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)  # documented: naive means UTC
    ts = timestamp_pb2.Timestamp()
    try:
        ts.FromDatetime(dt)
    except (OverflowError, ValueError) as e:
        raise _Mismatch(name, describe(lt), f"{_given(value)} ({e})") from None
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
            td = _parse_duration(text)
        except (ValueError, OverflowError):
            td = None
    if td is None:
        raise _Mismatch(name, describe(lt), _given(value))
    if abs(td.total_seconds()) > _MAX_DURATION_S:
        raise _Mismatch(name, describe(lt), _given(value) + " (beyond the 10000-year Duration range)")
    d = duration_pb2.Duration()
    d.FromTimedelta(td)
    return d


def _parse_json(value: Any, name: str, lt: types_pb2.LiteralType, want: type) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise _Mismatch(name, describe(lt), _given(value) + " (not valid JSON)") from None
    if not isinstance(parsed, want):
        raise _Mismatch(name, describe(lt), _given(value))
    return parsed


def _encode_collection(
    value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool
) -> literals_pb2.Literal:
    if coerce and isinstance(value, str):
        value = _parse_json(value, name, lt, list)
    if not isinstance(value, (list, tuple)):
        raise _Mismatch(name, describe(lt), _given(value))
    args = typing.get_args(hint) if typing.get_origin(hint) is list else ()
    sub_hint = strip_annotated(args[0]) if args else None
    items = [_encode(v, lt.collection_type, f"{name}[{i}]", sub_hint, coerce=coerce) for i, v in enumerate(value)]
    return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=items))


def _encode_map(value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool) -> literals_pb2.Literal:
    if coerce and isinstance(value, str):
        value = _parse_json(value, name, lt, dict)
    if not isinstance(value, Mapping):
        raise _Mismatch(name, describe(lt), _given(value))
    args = typing.get_args(hint) if typing.get_origin(hint) is dict else ()
    sub_hint = strip_annotated(args[1]) if len(args) == 2 else None
    out: dict[str, literals_pb2.Literal] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise _Mismatch(f"{name}[{k!r}]", "a str key", _given(k))
        out[k] = _encode(v, lt.map_value_type, f"{name}[{k!r}]", sub_hint, coerce=coerce)
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
            raise _Mismatch(name, describe(lt), f"{_given(value)} ({_short(e)})") from None
    is_object = is_pydantic_instance(value) or is_dataclass_instance(value)
    if not (is_object or isinstance(value, Mapping)) or (model is not None and not isinstance(value, model)):
        raise _Mismatch(name, describe(lt), _given(value))
    try:
        data = struct_data(value)
    except TypeError as e:
        raise _Mismatch(name, describe(lt), f"{_given(value)} ({e})") from None
    if model is None and isinstance(value, Mapping):
        # Without the class, at least check the schema's required fields: the task would
        # fail on them after a full scheduling round trip otherwise.
        missing = [f for f in _required_fields(lt) if f not in data]
        if missing:
            raise _Mismatch(name, describe(lt), f"{_given(value)} (missing fields: {', '.join(missing)})")
    payload = msgpack.packb(data, use_bin_type=True)
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(binary=literals_pb2.Binary(value=payload, tag=MSGPACK)))


def _short(e: BaseException) -> str:
    text = str(e).replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def _uri_of(value: Any, ref_type: type) -> tuple[str, str | None] | None:
    if isinstance(value, ref_type):
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
        raise _Mismatch(name, describe(lt), _given(value))
    uri, fmt = found
    blob_type = types_pb2.BlobType(format=lt.blob.format if fmt is None else fmt, dimensionality=lt.blob.dimensionality)
    blob = literals_pb2.Blob(uri=str(uri), metadata=literals_pb2.BlobMetadata(type=blob_type))
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(blob=blob))


def _encode_dataframe(value: Any, lt: types_pb2.LiteralType, name: str) -> literals_pb2.Literal:
    found = _uri_of(value, DataFrameRef)
    if found is None:
        raise _Mismatch(name, describe(lt), _given(value))
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
    raise _Mismatch(name, describe(lt), _given(value))


# -- unions


_NATURAL: list[tuple[type | tuple[type, ...], Callable[[types_pb2.LiteralType], bool]]] = [
    (bool, lambda v: _is_simple(v, types_pb2.BOOLEAN)),
    (int, lambda v: _is_simple(v, types_pb2.INTEGER)),
    (float, lambda v: _is_simple(v, types_pb2.FLOAT)),
    (str, lambda v: _is_simple(v, types_pb2.STRING) or v.HasField("enum_type")),
    (datetime.datetime, lambda v: _is_simple(v, types_pb2.DATETIME)),
    (datetime.timedelta, lambda v: _is_simple(v, types_pb2.DURATION)),
    ((list, tuple), lambda v: v.HasField("collection_type")),
    (Mapping, lambda v: v.HasField("map_value_type") or _is_simple(v, types_pb2.STRUCT)),
    ((FileRef, DirRef), lambda v: v.HasField("blob")),
    (DataFrameRef, lambda v: v.HasField("structured_dataset_type")),
]


def _is_simple(lt: types_pb2.LiteralType, simple: int) -> bool:
    return lt.WhichOneof("type") == "simple" and lt.simple == simple


def _natural(value: Any, variant: types_pb2.LiteralType) -> bool:
    """Whether ``variant`` is the obvious home of ``value`` (used before trying the others)."""
    if value is None:
        return _is_simple(variant, types_pb2.NONE)
    if is_pydantic_instance(value) or is_dataclass_instance(value):
        return _is_simple(variant, types_pb2.STRUCT)
    for py, test in _NATURAL:
        if isinstance(value, py):
            return test(variant)
    return False


def _hint_for_variant(hint: Any, variant: types_pb2.LiteralType, index: int) -> Any:
    """The member of a Union hint that produced ``variant`` (same order as the variants)."""
    if hint is None or not is_union(hint):
        return None
    args = typing.get_args(hint)
    if index < len(args) and _same_type(literal_type_for_or_none(args[index]), variant):
        return strip_annotated(args[index])
    for a in args:
        if _same_type(literal_type_for_or_none(a), variant):
            return strip_annotated(a)
    return None


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


def _same_type(a: types_pb2.LiteralType | None, b: types_pb2.LiteralType) -> bool:
    if a is None:
        return False
    if a.HasField("structure") and b.HasField("structure") and a.structure.tag != b.structure.tag:
        return False
    if _is_simple(a, types_pb2.STRUCT) and _is_simple(b, types_pb2.STRUCT):
        ta = a.metadata.fields.get("title")
        tb = b.metadata.fields.get("title")
        return ta is None or tb is None or ta == tb
    return _essence(a) == _essence(b)


def _encode_union(value: Any, lt: types_pb2.LiteralType, name: str, hint: Any, *, coerce: bool) -> literals_pb2.Literal:
    variants = list(lt.union_type.variants)
    order = sorted(range(len(variants)), key=lambda i: not _natural(value, variants[i]))
    # Strict pass first so a value of the right type is never re-interpreted; then, if
    # allowed, a coercing pass so "3" still finds an int variant.
    for strict in (True, False) if coerce else (True,):
        for i in order:
            variant = variants[i]
            try:
                inner = _encode(value, variant, name, _hint_for_variant(hint, variant, i), coerce=not strict)
            except _Mismatch:
                continue
            tagged = types_pb2.LiteralType()
            tagged.CopyFrom(variant)
            if not tagged.HasField("structure"):
                try:  # a foreign interface without tags: tag it the way the SDK would
                    sub = _hint_for_variant(hint, variant, i)
                    if sub is not None:
                        tagged.structure.tag = union_tag_for(sub)
                except TypeError:
                    pass
            return literals_pb2.Literal(scalar=literals_pb2.Scalar(union=literals_pb2.Union(value=inner, type=tagged)))
    raise _Mismatch(name, describe(lt), _given(value))


# ---------------------------------------------------------------- Literal -> value


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
        return _decode_union(scalar.union, lt, hint, read_uri)
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
        return _rebuild(msgpack.unpackb(scalar.binary.value, raw=False, strict_map_key=False), hint)
    if kind == "generic":
        return _rebuild(json_format.MessageToDict(scalar.generic), hint)
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


def _rebuild(data: Any, hint: Any) -> Any:
    if hint is None or hint is dict or typing.get_origin(hint) is dict or hint is object or hint is Any:
        return data
    try:
        return build(hint, data)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot build {getattr(hint, '__name__', hint)} from the struct: {_short(e)}") from e


def _decode_primitive(p: literals_pb2.Primitive, lt: types_pb2.LiteralType | None, hint: Any) -> Any:
    which = p.WhichOneof("value")
    if which == "integer":
        wants_float = hint is float or (hint is None and lt is not None and _is_simple(lt, types_pb2.FLOAT))
        return float(p.integer) if wants_float else p.integer
    if which == "float_value":
        wants_int = hint is int or (hint is None and lt is not None and _is_simple(lt, types_pb2.INTEGER))
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


def _decode_union(u: literals_pb2.Union, lt: types_pb2.LiteralType | None, hint: Any, read_uri: ReadUri | None) -> Any:
    variant = u.type
    sub_hint = None
    if hint is not None and is_union(hint):
        for arg in typing.get_args(hint):
            if _same_type(literal_type_for_or_none(arg), variant):
                sub_hint = strip_annotated(arg)
                break
    elif hint is not None:
        sub_hint = hint  # e.g. decoding an Optional[int] output with hint int
    declared = variant if variant.WhichOneof("type") else None
    return from_literal(u.value, declared, python_type=sub_hint, read_uri=read_uri)


# ---------------------------------------------------------------- plain data -> classes


def build(tp: Any, data: Any) -> Any:
    """Rebuild a value of hint ``tp`` from struct data (msgpack/JSON). ``TypeError`` if it does not fit."""
    tp = strip_annotated(tp)
    if tp is None or tp is Any or tp is object:
        return data
    if tp is NoneType:
        if data is not None:
            raise TypeError(f"expected null, got {type(data).__name__}")
        return None
    if is_union(tp):
        args = typing.get_args(tp)
        if data is None:
            if NoneType in args:
                return None
            raise TypeError(f"expected {tp}, got null")
        errors = []
        for arg in args:
            if arg is NoneType:
                continue
            try:
                return build(arg, data)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise TypeError(f"no member of {tp} fits: {'; '.join(errors)}")
    if is_pydantic_type(tp):
        if isinstance(data, tp):
            return data
        return tp.model_validate(data, strict=False)
    if is_dataclass_type(tp):
        if isinstance(data, tp):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object for {tp.__name__}, got {type(data).__name__}")
        hints = field_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                try:
                    kwargs[f.name] = build(hints.get(f.name, Any), data[f.name])
                except (TypeError, ValueError) as e:
                    raise TypeError(f"field {tp.__name__}.{f.name}: {e}") from None
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise TypeError(f"field {tp.__name__}.{f.name} is missing")
        return tp(**kwargs)  # unknown keys are ignored, as mashumaro does
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, set, frozenset, tuple) or tp in (list, set, frozenset, tuple):
        if not isinstance(data, (list, tuple)):
            raise TypeError(f"expected an array, got {type(data).__name__}")
        container = origin or tp
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(build(a, v) for a, v in zip(args, data))
        item = args[0] if args else Any
        return container(build(item, v) for v in data)
    if origin is dict or tp is dict:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        key_t, val_t = args if len(args) == 2 else (Any, Any)
        return {build(key_t, k) if key_t not in (str, Any) else k: build(val_t, v) for k, v in data.items()}
    if tp is bool:
        if isinstance(data, bool):
            return data
    elif tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if isinstance(data, float) and data.is_integer():
            return int(data)
    elif tp is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
    elif tp is str:
        if isinstance(data, str):
            return data
    elif tp is bytes:
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
    elif tp is datetime.datetime:
        if isinstance(data, datetime.datetime):
            return data
        if isinstance(data, str):
            return _parse_datetime(data)
    elif tp is datetime.date:
        if isinstance(data, str):
            return datetime.date.fromisoformat(data)
    elif tp is datetime.timedelta:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return datetime.timedelta(seconds=data)
        if isinstance(data, str):  # pydantic writes ISO-8601 durations
            return _parse_duration(data)
    elif tp in (FileRef, DirRef):
        if isinstance(data, str):
            return tp(data)
        if isinstance(data, Mapping) and isinstance(data.get("path"), str):
            return tp(data["path"], data.get("format") or "")
    elif tp is DataFrameRef:
        if isinstance(data, str):
            return tp(data)
        if isinstance(data, Mapping) and isinstance(data.get("uri"), str):
            return tp(data["uri"], data.get("format") or "")
    elif is_enum_type(tp):
        try:
            return tp(data)
        except ValueError:
            if isinstance(data, str) and data in tp.__members__:
                return tp[data]
            raise
    elif origin is typing.Literal:
        if data in args:
            return data
    elif tp in (uuid.UUID, decimal.Decimal, pathlib.Path, pathlib.PurePosixPath):
        return tp(data)
    else:
        raise TypeError(f"unsupported field type {tp!r}")
    raise TypeError(f"expected {getattr(tp, '__name__', tp)}, got {type(data).__name__} {str(data)[:40]!r}")


# ---------------------------------------------------------------- named inputs and outputs


def _variable_items(variables: Any) -> list[tuple[str, types_pb2.LiteralType]]:
    """Accept a TypedInterface (inputs), VariableMap, VariableEntry list or name -> type mapping."""
    if isinstance(variables, interface_pb2.TypedInterface):
        variables = variables.inputs
    if isinstance(variables, interface_pb2.VariableMap):
        variables = variables.variables
    if isinstance(variables, Mapping):
        items = list(variables.items())
    else:
        items = [(e.key, e.value) for e in variables]
    out = []
    for key, var in items:
        out.append((key, var.type if isinstance(var, interface_pb2.Variable) else var))
    return out


def inputs_to_literals(
    values: Mapping[str, object],
    interface: Any,
    defaults: Iterable[common_pb2.NamedParameter] | None,
    *,
    task: str,
) -> common_pb2.Inputs:
    """Encode the inputs of a run of ``task``, checking all of them before failing.

    ``interface`` is the task's ``TypedInterface`` (or its inputs ``VariableMap``);
    ``defaults`` is ``TaskSpec.default_inputs``. Inputs not given are filled from their
    default literal (sent explicitly, like the SDK). Unknown names, missing required inputs
    and wrongly typed values are all collected; one raises :class:`InvalidInputError`,
    several raise :class:`InvalidInputsError` listing each. Values that already are
    ``Literal`` messages are passed through. The result follows interface order.
    """
    variables = _variable_items(interface)
    known = [name for name, _ in variables]
    default_for = {p.name: p.parameter.default for p in (defaults or ()) if p.parameter.HasField("default")}
    errors: list[InvalidInputError] = []
    for key in values:
        if key not in known:
            names = ", ".join(known) if known else "none"
            errors.append(
                InvalidInputError(
                    key, expected=f"one of the task's inputs ({names})", given="an unknown input name", task=task
                )
            )
    literals: list[common_pb2.NamedLiteral] = []
    for name, lt in variables:
        if name in values:
            try:
                lit = to_literal(values[name], lt, name=name)
            except InvalidInputError as e:
                errors.append(InvalidInputError(e.input_name, expected=e.expected, given=e.given, task=task))
                continue
        elif name in default_for:
            lit = default_for[name]
        else:
            given = "nothing (the input is required and has no default)"
            errors.append(InvalidInputError(name, expected=describe(lt), given=given, task=task))
            continue
        literals.append(common_pb2.NamedLiteral(name=name, value=lit))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidInputsError(errors)
    return common_pb2.Inputs(literals=literals)


def literals_to_python(
    named: Any,
    variables: Any,
    *,
    python_types: Mapping[str, Any] | None = None,
    read_uri: ReadUri | None = None,
) -> dict[str, object]:
    """Decode named literals (outputs) into a dict ordered like ``variables``.

    ``named`` is a sequence of ``NamedLiteral`` (or a message with ``.literals``, or a
    name -> Literal mapping); ``variables`` is a ``VariableMap``, ``VariableEntry`` list or
    name -> LiteralType mapping (a ``TypedInterface`` means its *outputs* here). Names
    declared but absent are left out; names present but undeclared come last, decoded
    without a declared type. ``python_types`` maps names to hints (dataclasses, models).
    """
    if isinstance(variables, interface_pb2.TypedInterface):
        variables = variables.outputs
    declared = _variable_items(variables)
    if hasattr(named, "literals") and not isinstance(named, (Mapping, list, tuple)):
        named = named.literals
    by_name: dict[str, literals_pb2.Literal] = (
        dict(named.items()) if isinstance(named, Mapping) else {n.name: n.value for n in named}
    )
    hints = python_types or {}
    out: dict[str, object] = {}
    for name, lt in declared:
        if name in by_name:
            out[name] = from_literal(by_name[name], lt, python_type=hints.get(name), read_uri=read_uri)
    for name, lit in by_name.items():
        if name not in out:
            out[name] = from_literal(lit, None, python_type=hints.get(name), read_uri=read_uri)
    return out


# ---------------------------------------------------------------- JSON-safe view


def to_json_safe(value: Any) -> Any:
    """Turn a decoded value into JSON data (for Airflow XCom and logs).

    dataclass/pydantic -> dict, datetime/date -> ISO string, timedelta -> total seconds,
    refs -> their URI, tuples -> lists, sets -> sorted lists, bytes -> base64 text,
    enums -> their value, non-str dict keys -> str. Unknown objects raise ``TypeError``.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (FileRef, DirRef, DataFrameRef)):
        return value.uri
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return to_json_safe(value.value)
    if is_pydantic_instance(value):
        return to_json_safe(value.model_dump(mode="json"))
    if is_dataclass_instance(value):
        return {f.name: to_json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {(k if isinstance(k, str) else str(to_json_safe(k))): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [to_json_safe(v) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed types: sort by their JSON text for a stable order
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, (uuid.UUID, decimal.Decimal, pathlib.PurePath)):
        return str(value)
    if isinstance(value, literals_pb2.Literal):
        return to_json_safe(from_literal(value))
    raise TypeError(f"cannot make {type(value).__name__} JSON-safe")

