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

This module is the public codec surface; the work is done in modules split by concept:

* :mod:`._encode`: value -> Literal (:func:`to_literal` wraps it).
* :mod:`._decode`: Literal -> value (:func:`from_literal`, re-exported).
* :mod:`._structs`: STRUCT data (:func:`struct_data`, :func:`build`, re-exported).
* :mod:`._unions`: choosing and matching union variants.
* :mod:`._coerce`: reading typed values out of templated strings.

Here remain the named-inputs/outputs helpers and :func:`to_json_safe`.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

from flyteidl2.core import interface_pb2, literals_pb2, types_pb2
from flyteidl2.task import common_pb2

from .._errors import InvalidInputError, InvalidInputsError
from ._decode import ReadUri, from_literal
from ._encode import Mismatch, encode
from ._hints import is_dataclass_instance, is_pydantic_instance, strip_annotated
from ._refs import DataFrameRef, DirRef, FileRef
from ._structs import TEXT_TYPES, build, struct_data, time_data
from ._types import describe

__all__ = [
    "InvalidInputsError",
    "build",
    "from_literal",
    "inputs_to_literals",
    "literals_to_python",
    "struct_data",
    "to_json_safe",
    "to_literal",
]


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
        return encode(value, lt, name, strip_annotated(python_type), coerce=True)
    except Mismatch as e:
        raise InvalidInputError(e.name, expected=e.expected, given=e.given) from None
    except UnicodeEncodeError:  # a lone surrogate: protobuf and msgpack both need valid UTF-8
        raise InvalidInputError(
            name, expected=f"{describe(lt)} with text encodable as UTF-8", given="a string with a lone surrogate"
        ) from None
    except RecursionError:
        raise InvalidInputError(
            name, expected=f"{describe(lt)} nested less deeply", given="a value nested too deeply to encode"
        ) from None


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
    if (time := time_data(value)) is not None:
        return time
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
    if isinstance(value, TEXT_TYPES):
        return str(value)
    if isinstance(value, literals_pb2.Literal):
        return to_json_safe(from_literal(value))
    raise TypeError(f"cannot make {type(value).__name__} JSON-safe")
