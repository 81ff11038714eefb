"""STRUCT payloads: objects <-> plain msgpack data, and classes rebuilt from that data.

A STRUCT literal (untyped dict, dataclass, pydantic model) carries
``scalar.binary{value, tag="msgpack"}``, the msgpack of plain data built the way the SDK's
encoders do: a dataclass goes field by field as mashumaro does (``datetime``/``date`` as
ISO strings, ``timedelta`` as float seconds, enums by value, nested File/Dir as ``{"path",
"name", "format", "hash"}``, DataFrame as ``{"uri", "format", "hash"}``); a pydantic model
is ``model_dump(mode="json")`` (what the SDK's ``model_dump_json`` round trip gives).

This module holds both halves of that mapping, which know nothing of protobuf:
:func:`struct_data` (object -> plain data), :func:`build` (plain data -> an instance of a
hint, nested dataclasses included; also used by ``flyte_dagster``), and :func:`pack` /
:func:`unpack` for the msgpack bytes. The encoder (:mod:`._encode`) and decoder
(:mod:`._decode`) wrap them in literals; :mod:`._literals` re-exports
:func:`struct_data` and :func:`build`.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pathlib
import typing
import uuid
from collections.abc import Mapping
from typing import Any

import msgpack

from ._coerce import parse_datetime, parse_duration
from ._hints import (
    NoneType,
    field_hints,
    is_dataclass_instance,
    is_dataclass_type,
    is_enum_type,
    is_pydantic_instance,
    is_pydantic_type,
    is_union,
    strip_annotated,
)
from ._refs import DataFrameRef, DirRef, FileRef

__all__ = ["TEXT_TYPES", "build", "pack", "rebuild", "short_error", "struct_data", "time_data", "unpack"]


def pack(data: Any) -> bytes:
    """The msgpack bytes of plain struct data."""
    packed: bytes = msgpack.packb(data, use_bin_type=True)
    return packed


def unpack(payload: bytes) -> Any:
    """Plain struct data from msgpack bytes (non-str map keys allowed)."""
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


def short_error(e: BaseException) -> str:
    """An error's text on one line of at most 120 characters, to quote inside another message."""
    text = str(e).replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------- objects -> plain data


def _ref_dict(ref: FileRef | DirRef | DataFrameRef) -> dict[str, Any]:
    # The shapes of flyte.io.File/Dir/DataFrame.model_dump(), which is what the SDK
    # writes when one of them sits inside a dataclass or model.
    if isinstance(ref, DataFrameRef):
        return {"uri": ref.uri, "format": ref.format, "hash": None}
    name = pathlib.PurePosixPath(ref.uri.rstrip("/")).name
    return {"path": ref.uri, "name": name, "format": ref.format, "hash": None}


# Written as their text both in struct data and by ``_literals.to_json_safe``.
TEXT_TYPES = (uuid.UUID, decimal.Decimal, pathlib.PurePath)


def time_data(value: Any) -> str | float | None:
    """A time as plain data, as mashumaro writes it: ISO text for a datetime, date or time,
    float seconds for a timedelta; ``None`` for any other value.

    Shared by :func:`struct_data` and ``_literals.to_json_safe``, so both write times alike.
    """
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return None


def struct_data(value: Any) -> Any:
    """Plain msgpack-able data for a STRUCT, encoded as the SDK's mashumaro/pydantic do."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if (time := time_data(value)) is not None:
        return time
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
    if isinstance(value, TEXT_TYPES):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} inside a struct")


# ---------------------------------------------------------------- plain data -> classes


def rebuild(data: Any, hint: Any) -> Any:
    """Decoded struct data as ``hint`` asks: plain data for no hint or a dict hint, else :func:`build`."""
    if hint is None or hint is dict or typing.get_origin(hint) is dict or hint is object or hint is Any:
        return data
    try:
        return build(hint, data)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot build {getattr(hint, '__name__', hint)} from the struct: {short_error(e)}") from e


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
        return _build_union(tp, data)
    if is_pydantic_type(tp):
        if isinstance(data, tp):
            return data
        return tp.model_validate(data, strict=False)
    if is_dataclass_type(tp):
        return _build_dataclass(tp, data)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, set, frozenset, tuple) or tp in (list, set, frozenset, tuple):
        if not isinstance(data, (list, tuple)):
            raise TypeError(f"expected an array, got {type(data).__name__}")
        container = origin or tp
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(build(a, v) for a, v in zip(args, data, strict=False))
        item = args[0] if args else Any
        return container(build(item, v) for v in data)
    if origin is dict or tp is dict:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        key_t, val_t = args if len(args) == 2 else (Any, Any)
        return {build(key_t, k) if key_t not in (str, Any) else k: build(val_t, v) for k, v in data.items()}
    return _build_leaf(tp, origin, args, data)


def _build_union(tp: Any, data: Any) -> Any:
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


def _build_dataclass(tp: type, data: Any) -> Any:
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


def _build_leaf(tp: Any, origin: Any, args: tuple[Any, ...], data: Any) -> Any:
    """A scalar-like hint (number, text, time, ref, enum, Literal, ...) from one datum."""
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
            return parse_datetime(data)
    elif tp is datetime.date:
        if isinstance(data, str):
            return datetime.date.fromisoformat(data)
    elif tp is datetime.timedelta:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return datetime.timedelta(seconds=data)
        if isinstance(data, str):  # pydantic writes ISO-8601 durations
            return parse_duration(data)
    elif tp in (FileRef, DirRef, DataFrameRef):
        key = "uri" if tp is DataFrameRef else "path"  # the shapes _ref_dict writes
        if isinstance(data, str):
            return tp(data)
        if isinstance(data, Mapping) and isinstance(data.get(key), str):
            return tp(data[key], data.get("format") or "")
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
