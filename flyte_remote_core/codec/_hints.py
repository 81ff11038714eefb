"""Predicates on Python type hints, shared by every part of the codec.

Both directions of the codec (hint -> ``LiteralType`` in :mod:`._types`, value <-> ``Literal``
in :mod:`._literals` and its sibling modules) ask the same questions of a hint: is it a
union, a user dataclass, a pydantic model, an enum? The answers live here, in a module that
imports nothing else of the codec, so that any codec module can use them without an import
cycle. :mod:`._types` re-exports them for existing callers.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from typing import Any

from ._refs import DataFrameRef, DirRef, FileRef

__all__ = [
    "NoneType",
    "field_hints",
    "is_dataclass_instance",
    "is_dataclass_type",
    "is_enum_type",
    "is_namedtuple_type",
    "is_pydantic_instance",
    "is_pydantic_type",
    "is_struct_model",
    "is_union",
    "strip_annotated",
]

NoneType = type(None)

_REF_TYPES = (FileRef, DirRef, DataFrameRef)


def strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def is_dataclass_type(tp: Any) -> bool:
    """A user dataclass (our refs are dataclasses too, but they encode as blobs)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp) and not issubclass(tp, _REF_TYPES)


def is_dataclass_instance(value: Any) -> bool:
    return not isinstance(value, type) and is_dataclass_type(type(value))


def is_pydantic_type(tp: Any) -> bool:
    # pydantic is optional: if it was never imported, no model class can exist.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def is_pydantic_instance(value: Any) -> bool:
    return is_pydantic_type(type(value))


def is_enum_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def is_namedtuple_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def is_struct_model(tp: Any) -> bool:
    """A class the STRUCT encoding rebuilds on decode (dataclass or pydantic model)."""
    return is_dataclass_type(tp) or is_pydantic_type(tp)


def field_hints(cls: type) -> dict[str, Any]:
    """Resolved field hints of a dataclass; the class's own name resolves (self references)."""
    return typing.get_type_hints(cls, localns={cls.__name__: cls}, include_extras=True)
