"""``to_dict()`` and ``to_json()`` for records that wrap a protobuf message."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.json_format import MessageToDict


class ToJSONMixin:
    """``to_dict()`` and ``to_json()`` from the wrapped protobuf message ``pb2``."""

    pb2: Any

    def to_dict(self) -> dict[str, Any]:
        return MessageToDict(self.pb2, preserving_proto_field_name=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)
