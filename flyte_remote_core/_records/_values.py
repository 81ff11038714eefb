"""An action's inputs and outputs as Python values, keeping the wire messages they came from."""

from __future__ import annotations

import json
from collections import UserDict
from typing import Any

from ..codec import to_json_safe
from ._json import ToJSONMixin


class ActionInputs(UserDict, ToJSONMixin):  # type: ignore[type-arg]
    """The inputs of an action as a dict of Python values; ``pb2`` is ``common_pb2.Inputs``."""

    def __init__(self, pb2: Any = None, data: dict[str, Any] | None = None) -> None:
        # Both optional: dict protocols (fromkeys, copy) build an empty instance first.
        super().__init__(data or {})
        self.pb2 = pb2

    def to_dict(self) -> dict[str, Any]:
        return {k: to_json_safe(v) for k, v in self.data.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class ActionOutputs(tuple, ToJSONMixin):  # type: ignore[type-arg]
    """The outputs of an action in interface order; ``outputs["o0"]`` works as well as ``outputs[0]``."""

    pb2: Any
    names: tuple[str, ...]

    def __new__(cls, pb2: Any, data: tuple[Any, ...], names: tuple[str, ...] | None = None) -> ActionOutputs:
        self = super().__new__(cls, data)
        self.pb2 = pb2
        self.names = tuple(names) if names is not None else tuple(f"o{i}" for i in range(len(data)))
        return self

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self.names.index(key))
            except ValueError:
                raise KeyError(f"no output named {key!r}; outputs are {list(self.names)}") from None
        return tuple.__getitem__(self, key)

    @property
    def named(self) -> dict[str, Any]:
        """``{output name: Python value}``."""
        return dict(zip(self.names, self, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """``{output name: JSON-safe value}``, ready for XCom."""
        return {name: to_json_safe(value) for name, value in zip(self.names, self, strict=True)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return f"ActionOutputs({self.named!r})"
