"""Python functions -> task interfaces: input and output hints, ``TypedInterface`` and defaults.

Reading a function's signature is a different job from mapping one hint to a
``LiteralType`` (:mod:`._types`), so it lives here. The rules follow the SDK: inputs keep
signature order; outputs are named ``o0, o1, ...`` (a tuple return gives several, ``None``
gives none) or take a ``NamedTuple``'s field names, as the SDK's
``extract_return_annotation``; defaults become ``NamedParameter`` entries only for inputs
that have one, like the SDK's ``convert_upload_default_inputs``.

It stands on top of the codec: it uses :func:`._types.literal_type_for` for hints and
:func:`._literals.to_literal` for defaults, and nothing in the codec imports it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from flyteidl2.core import interface_pb2
from flyteidl2.task import common_pb2

from ._hints import NoneType, is_namedtuple_type, strip_annotated
from ._literals import to_literal
from ._types import literal_type_for

__all__ = ["input_types_for", "output_types_for", "typed_interface_for"]


def _unwrap(func: Any) -> Callable[..., Any]:
    # Decorated task objects (the SDK's TaskTemplate and similar) keep the function in `.func`.
    inner = getattr(func, "func", None)
    if not inspect.isroutine(func) and callable(inner):
        return typing.cast(Callable[..., Any], inner)
    if not callable(func):
        raise TypeError(f"{func!r} is not a function")
    return typing.cast(Callable[..., Any], func)


def input_types_for(func: Any) -> dict[str, Any]:
    """Input names and hints of ``func``, in signature order."""
    fn = _unwrap(func)
    hints = typing.get_type_hints(fn, include_extras=True)
    out: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__}: *args and **kwargs cannot be task inputs")
        if p.name not in hints:
            raise TypeError(f"{fn.__qualname__}: input {p.name!r} has no type hint")
        out[p.name] = hints[p.name]
    return out


def output_types_for(func: Any) -> dict[str, Any]:
    """Output names and hints of ``func``: ``o0, o1, ...``, or a NamedTuple's field names."""
    fn = _unwrap(func)
    ret = typing.get_type_hints(fn, include_extras=True).get("return", inspect.Signature.empty)
    ret = strip_annotated(ret)
    if ret in (None, NoneType, inspect.Signature.empty):
        return {}
    if is_namedtuple_type(ret):
        return dict(typing.get_type_hints(ret, include_extras=True))
    if typing.get_origin(ret) is tuple:
        args = typing.get_args(ret)
        if len(args) < 2 or Ellipsis in args:
            raise TypeError(
                f"{fn.__qualname__}: return a tuple of two or more fixed types for several outputs, not {ret!r}"
            )
        return {f"o{i}": a for i, a in enumerate(args)}
    return {"o0": ret}


def _variables(types_by_name: dict[str, Any]) -> interface_pb2.VariableMap:

    return interface_pb2.VariableMap(
        variables=[
            interface_pb2.VariableEntry(key=name, value=interface_pb2.Variable(type=literal_type_for(tp)))
            for name, tp in types_by_name.items()
        ]
    )


def typed_interface_for(func: Any) -> tuple[interface_pb2.TypedInterface, list[common_pb2.NamedParameter]]:
    """The ``TypedInterface`` of ``func`` and its default inputs as ``NamedParameter`` s.

    Inputs keep signature order. Only inputs with a default get a ``NamedParameter``
    (carrying the default literal), as in the SDK.
    """

    fn = _unwrap(func)
    inputs = input_types_for(fn)
    interface = interface_pb2.TypedInterface(inputs=_variables(inputs), outputs=_variables(output_types_for(fn)))
    defaults: list[common_pb2.NamedParameter] = []
    params = inspect.signature(fn).parameters
    for entry in interface.inputs.variables:
        default = params[entry.key].default
        if default is inspect.Parameter.empty:
            continue
        try:
            literal = to_literal(default, entry.value.type, name=entry.key, python_type=inputs[entry.key])
        except ValueError as e:
            raise TypeError(f"{fn.__qualname__}: the default of input {entry.key!r} cannot be encoded: {e}") from e
        defaults.append(
            common_pb2.NamedParameter(
                name=entry.key,
                parameter=interface_pb2.Parameter(var=interface_pb2.Variable(type=entry.value.type), default=literal),
            )
        )
    return interface, defaults
