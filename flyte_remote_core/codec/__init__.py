"""The literal codec: Python values and types <-> ``flyteidl2`` literals and interfaces.

Public, so that the devserver, the integrations and user code share one encoding that is
wire-compatible with the official SDK (rules in :mod:`._literals` and :mod:`._types`)::

    from flyte_remote_core.codec import literal_type_for, to_literal, from_literal

    lt = literal_type_for(list[int])
    assert from_literal(to_literal([1, 2], lt), lt) == [1, 2]

Layers inside, bottom up (each module imports only those below it): ``_refs``, ``_hints``,
``_coerce`` -> ``_structs`` -> ``_types`` -> ``_unions`` -> ``_encode`` / ``_decode`` ->
``_literals`` -> ``_interface``; ``_storage`` reads and writes the URIs literals point at.
"""

from __future__ import annotations

from ._interface import input_types_for, output_types_for, typed_interface_for
from ._literals import from_literal, inputs_to_literals, literals_to_python, to_json_safe, to_literal
from ._refs import DataFrameRef, DirRef, FileRef
from ._storage import local_path, read_uri, read_uri_async, write_uri, write_uri_async
from ._types import describe, json_schema_for, literal_type_for, python_type_for

__all__ = [
    "DataFrameRef",
    "DirRef",
    "FileRef",
    "describe",
    "from_literal",
    "input_types_for",
    "inputs_to_literals",
    "json_schema_for",
    "literal_type_for",
    "literals_to_python",
    "local_path",
    "output_types_for",
    "python_type_for",
    "read_uri",
    "read_uri_async",
    "to_json_safe",
    "to_literal",
    "typed_interface_for",
    "write_uri",
    "write_uri_async",
]
