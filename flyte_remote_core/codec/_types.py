"""Python type hints <-> ``flyteidl2.core.types_pb2.LiteralType``.

The mapping follows what the official Flyte 2 SDK (``flyte.types.TypeEngine``) produces,
so interfaces built here and by the SDK look the same to the backend and to each other:

* ``int``/``float``/``str``/``bool``/``datetime``/``timedelta`` are ``simple`` INTEGER,
  FLOAT, STRING, BOOLEAN, DATETIME, DURATION (``datetime.date`` is DATETIME too, as in
  the SDK's DateTransformer).
* ``list[T]`` is ``collection_type``; ``dict[str, T]`` is ``map_value_type``.
* An untyped ``dict`` (or a dict whose keys are not ``str``) is ``simple: STRUCT`` with the
  annotation ``{"cache-key-metadata": {"serialization-format": "msgpack"}}`` and no schema,
  exactly like the SDK's DictTransformer.
* A dataclass or pydantic model is ``simple: STRUCT`` with a JSON schema in ``metadata``,
  the same annotation, and ``structure.tag`` set to the SDK transformer's name
  (``"Object-Dataclass-Transformer"`` / ``"Pydantic Transformer"``). The SDK builds the
  dataclass schema with mashumaro; we build an equivalent draft 2020-12 schema ourselves
  (the backend does not read it; SDK clients only use it to guess a class).
* ``Optional[T]``, ``T | None`` and ``Union[...]`` are ``union_type``; every variant carries
  ``structure.tag`` = the name of the SDK transformer for that variant (``"int"``,
  ``"str"``, ``"none"``, ``"Typed List"``, ``"Typed Dict"``, ``"File"``, ...). The SDK
  picks the variant to decode by that tag, so we must set it.
* :class:`FileRef`/:class:`DirRef` are ``blob`` SINGLE/MULTIPART with an empty format;
  :class:`DataFrameRef` is ``structured_dataset_type`` with an empty (generic) format.
* A string-valued ``enum.Enum`` is ``enum_type`` listing member names; ``typing.Literal``
  of strings lists the literal values (the SDK turns a Literal into an Enum of values).

This module holds that mapping (hint -> ``LiteralType``, the union tags, the dataclass
JSON schema) and its reverse (:func:`describe`, :func:`python_type_for`). Two neighbours
hold the rest:

* :mod:`._hints`: predicates on hints (``is_union``, ``is_dataclass_type``, ...).
* :mod:`._interface` (above this module): functions -> interfaces. Outputs are named ``o0, o1, ...`` (a
  tuple return gives several, ``None`` gives none); a ``NamedTuple`` return uses its field
  names, as the SDK's ``extract_return_annotation``. Task defaults are sent as
  ``NamedParameter`` only for inputs that have one, like the SDK's
  ``convert_upload_default_inputs`` (no ``required`` flag is set; an input without an entry
  is required).
"""

from __future__ import annotations

import dataclasses
import datetime
import typing
from typing import Any

from flyteidl2.core import types_pb2
from google.protobuf import struct_pb2

# The predicates not used here are re-exported: they were defined in this module before.
from ._hints import (
    NoneType,
    field_hints,
    is_dataclass_instance,  # noqa: F401
    is_dataclass_type,
    is_enum_type,
    is_namedtuple_type,  # noqa: F401
    is_pydantic_instance,  # noqa: F401
    is_pydantic_type,
    is_struct_model,  # noqa: F401
    is_union,
    strip_annotated,
)
from ._refs import DataFrameRef, DirRef, FileRef

__all__ = [
    "MSGPACK",
    "STRUCT_ANNOTATION",
    "TAG_DATACLASS",
    "TAG_PYDANTIC",
    "describe",
    "literal_type_for",
    "python_type_for",
    "union_tag_for",
]

MSGPACK = "msgpack"
TAG_DATACLASS = "Object-Dataclass-Transformer"
TAG_PYDANTIC = "Pydantic Transformer"
# The annotation the SDK puts on every msgpack STRUCT (it feeds the cache key).
STRUCT_ANNOTATION = {"cache-key-metadata": {"serialization-format": MSGPACK}}

_SIMPLE: dict[Any, int] = {
    int: types_pb2.INTEGER,
    float: types_pb2.FLOAT,
    str: types_pb2.STRING,
    bool: types_pb2.BOOLEAN,
    datetime.datetime: types_pb2.DATETIME,
    datetime.date: types_pb2.DATETIME,
    datetime.timedelta: types_pb2.DURATION,
}
_SIMPLE_NAMES = {
    types_pb2.NONE: "None",
    types_pb2.INTEGER: "int",
    types_pb2.FLOAT: "float",
    types_pb2.STRING: "str",
    types_pb2.BOOLEAN: "bool",
    types_pb2.DATETIME: "datetime",
    types_pb2.DURATION: "timedelta",
    types_pb2.BINARY: "bytes",
    types_pb2.ERROR: "error",
    types_pb2.STRUCT: "struct",
}
_SIMPLE_PY: dict[int, Any] = {
    types_pb2.NONE: NoneType,
    types_pb2.INTEGER: int,
    types_pb2.FLOAT: float,
    types_pb2.STRING: str,
    types_pb2.BOOLEAN: bool,
    types_pb2.DATETIME: datetime.datetime,
    types_pb2.DURATION: datetime.timedelta,
    types_pb2.BINARY: bytes,
    types_pb2.ERROR: str,
    types_pb2.STRUCT: dict,
}
# Names of the SDK transformers, used as union variant tags.
_TAGS: dict[Any, str] = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    datetime.datetime: "datetime",
    datetime.date: "date",
    datetime.timedelta: "timedelta",
    NoneType: "none",
    FileRef: "File",
    DirRef: "Dir",
    DataFrameRef: "DataFrame Transformer",
}


# ---------------------------------------------------------------- hint -> LiteralType


def _struct(metadata: dict[str, Any] | None = None, tag: str | None = None) -> types_pb2.LiteralType:
    annotation = struct_pb2.Struct()
    annotation.update(STRUCT_ANNOTATION)
    lt = types_pb2.LiteralType(simple=types_pb2.STRUCT, annotation=types_pb2.TypeAnnotation(annotations=annotation))
    if metadata is not None:
        lt.metadata.update(metadata)
    if tag is not None:
        lt.structure.tag = tag
    return lt


def _with_tag(lt: types_pb2.LiteralType, tag: str) -> types_pb2.LiteralType:
    tagged = types_pb2.LiteralType()
    tagged.CopyFrom(lt)
    # The SDK replaces the whole structure with one carrying only the tag.
    tagged.structure.CopyFrom(types_pb2.TypeStructure(tag=tag))
    return tagged


def union_tag_for(py_type: Any) -> str:
    """The SDK transformer name for ``py_type``: the ``structure.tag`` of a union variant."""
    tp = strip_annotated(py_type)
    if tp is None:
        return "none"
    if tp in _TAGS:
        return _TAGS[tp]
    origin = typing.get_origin(tp)
    if origin is list:
        return "Typed List"
    if origin is dict or tp is dict:
        return "Typed Dict"
    if is_union(tp):
        return "Typed Union"
    if is_pydantic_type(tp):
        return TAG_PYDANTIC
    if is_dataclass_type(tp):
        return TAG_DATACLASS
    if is_enum_type(tp) or origin is typing.Literal:
        return "DefaultEnumTransformer"
    raise TypeError(f"unsupported type {tp!r}")


def literal_type_for(py_type: Any) -> types_pb2.LiteralType:
    """The ``LiteralType`` for a Python type hint. ``TypeError`` if it is not supported."""
    tp = strip_annotated(py_type)
    if tp is None or tp is NoneType:
        return types_pb2.LiteralType(simple=types_pb2.NONE)
    if tp in _SIMPLE:
        return types_pb2.LiteralType(simple=_SIMPLE[tp])  # type: ignore[arg-type]
    if tp is FileRef:
        return types_pb2.LiteralType(blob=types_pb2.BlobType(format="", dimensionality=types_pb2.BlobType.SINGLE))
    if tp is DirRef:
        return types_pb2.LiteralType(blob=types_pb2.BlobType(format="", dimensionality=types_pb2.BlobType.MULTIPART))
    if tp is DataFrameRef:
        return types_pb2.LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType(format=""))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_union(tp):
        return types_pb2.LiteralType(
            union_type=types_pb2.UnionType(variants=[_with_tag(literal_type_for(a), union_tag_for(a)) for a in args])
        )
    if origin is list:
        if len(args) != 1:
            raise TypeError(f"unsupported type {tp!r}: a list needs one element type, e.g. list[int]")
        return types_pb2.LiteralType(collection_type=literal_type_for(args[0]))
    if tp is list:
        raise TypeError("unsupported type list: give the element type, e.g. list[int]")
    if tp is dict or origin is dict:
        if args and args[0] is str:
            return types_pb2.LiteralType(map_value_type=literal_type_for(args[1]))
        return _struct()  # untyped or non-str keys: msgpack STRUCT, like the SDK
    if origin is typing.Literal:
        if not args or not all(isinstance(a, str) for a in args):
            raise TypeError(f"unsupported type {tp!r}: only Literal of strings is supported")
        return types_pb2.LiteralType(enum_type=types_pb2.EnumType(values=list(dict.fromkeys(args))))
    if is_enum_type(tp):
        members = list(tp)
        if not members or not all(isinstance(m.value, str) for m in members):
            raise TypeError(f"unsupported type {tp!r}: only enums with str values are supported")
        return types_pb2.LiteralType(enum_type=types_pb2.EnumType(values=[m.name for m in members]))
    if is_pydantic_type(tp):
        return _struct(tp.model_json_schema(), TAG_PYDANTIC)
    if is_dataclass_type(tp):
        return _struct(json_schema_for(tp), TAG_DATACLASS)
    raise TypeError(f"unsupported type {tp!r}")


def json_schema_for(tp: Any, _seen: frozenset[Any] = frozenset()) -> dict[str, Any]:
    """A JSON schema (draft 2020-12 style, nested classes inlined) for a field type."""
    tp = strip_annotated(tp)
    simple = {int: "integer", float: "number", str: "string", bool: "boolean", NoneType: "null"}
    if tp in simple:
        return {"type": simple[tp]}
    if tp is None:
        return {"type": "null"}
    if tp is datetime.datetime:
        return {"type": "string", "format": "date-time"}
    if tp is datetime.date:
        return {"type": "string", "format": "date"}
    if tp is datetime.timedelta:
        return {"type": "number", "format": "time-delta"}
    if tp in (FileRef, DirRef):
        title = "File" if tp is FileRef else "Dir"
        return {"type": "object", "title": title, "properties": {"path": {"type": "string"}}}
    if tp is DataFrameRef:
        return {"type": "object", "title": "DataFrame", "properties": {"uri": {"type": "string"}}}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_union(tp):
        return {"anyOf": [json_schema_for(a, _seen) for a in args]}
    if origin in (list, set, frozenset, tuple) or tp in (list, set, frozenset, tuple):
        return {"type": "array", "items": json_schema_for(args[0], _seen)} if args else {"type": "array"}
    if origin is dict or tp is dict:
        if len(args) == 2:
            return {"type": "object", "additionalProperties": json_schema_for(args[1], _seen)}
        return {"type": "object"}
    if is_enum_type(tp):
        return {"enum": [m.value for m in tp]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if is_pydantic_type(tp):
        model_schema: dict[str, Any] = tp.model_json_schema()
        return model_schema
    if is_dataclass_type(tp):
        if tp in _seen:  # recursive dataclass: stop instead of looping
            return {"type": "object", "title": tp.__name__}
        hints = field_hints(tp)
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(tp):
            props[f.name] = json_schema_for(hints.get(f.name, Any), _seen | {tp})
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
            elif isinstance(f.default, (str, int, float, bool)) or f.default is None:
                props[f.name]["default"] = f.default
        schema: dict[str, Any] = {
            "type": "object",
            "title": tp.__name__,
            "properties": props,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        return schema
    return {}


# ---------------------------------------------------------------- LiteralType -> text / hint


def describe(lt: types_pb2.LiteralType) -> str:
    """A readable name for ``lt``: ``int``, ``list[int]``, ``Optional[str]``, ``struct``, ``file``."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        name = _SIMPLE_NAMES.get(lt.simple, f"simple type {lt.simple}")
        if lt.simple == types_pb2.STRUCT and lt.HasField("metadata") and "title" in lt.metadata.fields:
            title = lt.metadata.fields["title"]
            if title.WhichOneof("kind") == "string_value":
                return f"struct {title.string_value}"
        return name
    if kind == "collection_type":
        return f"list[{describe(lt.collection_type)}]"
    if kind == "map_value_type":
        return f"dict[str, {describe(lt.map_value_type)}]"
    if kind == "union_type":
        variants = list(lt.union_type.variants)
        others = [v for v in variants if not (v.WhichOneof("type") == "simple" and v.simple == types_pb2.NONE)]
        inner = ", ".join(describe(v) for v in others)
        if len(others) < len(variants):
            return f"Optional[{inner}]" if len(others) == 1 else f"Optional[Union[{inner}]]"
        return f"Union[{inner}]"
    if kind == "blob":
        name = "dir" if lt.blob.dimensionality == types_pb2.BlobType.MULTIPART else "file"
        return f"{name} ({lt.blob.format})" if lt.blob.format else name
    if kind == "structured_dataset_type":
        fmt = lt.structured_dataset_type.format
        return f"dataframe ({fmt})" if fmt else "dataframe"
    if kind == "enum_type":
        return "one of " + ", ".join(repr(v) for v in lt.enum_type.values)
    if kind == "schema":
        return "schema"
    return "unknown type"


def python_type_for(lt: types_pb2.LiteralType) -> Any:
    """A best-effort Python hint for decoding values of ``lt`` when no class is known.

    STRUCT becomes ``dict`` (dataclasses and models cannot be rebuilt from a schema
    here), enums become ``str``.
    """
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return _SIMPLE_PY.get(lt.simple, object)
    if kind == "collection_type":
        return list[python_type_for(lt.collection_type)]  # type: ignore[misc]
    if kind == "map_value_type":
        return dict[str, python_type_for(lt.map_value_type)]  # type: ignore[misc]
    if kind == "union_type":
        args = tuple(python_type_for(v) for v in lt.union_type.variants)
        return typing.Union[args] if args else object  # noqa: UP007 - a runtime-built union
    if kind == "blob":
        return DirRef if lt.blob.dimensionality == types_pb2.BlobType.MULTIPART else FileRef
    if kind in ("structured_dataset_type", "schema"):
        return DataFrameRef
    if kind == "enum_type":
        return str
    return object
