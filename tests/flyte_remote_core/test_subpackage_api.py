"""The public sub-packages' surfaces are pinned: a name added or dropped is a deliberate change here."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "flyte_remote_core.codec": {
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
    },
    "flyte_remote_core.orchestration": {
        "SECRET_SETTINGS",
        "ClientLike",
        "ClientSlot",
        "LaunchOutcome",
        "Outcome",
        "OutcomeKind",
        "OutputTypeError",
        "RunLike",
        "RunResult",
        "SharedClients",
        "TaskLike",
        "abort_named",
        "abort_quietly",
        "abort_quietly_sync",
        "classify",
        "deadline_message",
        "launch_identity",
        "launch_or_attach",
        "run_to_completion",
        "secrets_of",
        "settings_key",
        "wait_for_result",
    },
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_pinned_and_every_name_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == EXPECTED[module_name]
    assert len(module.__all__) == len(set(module.__all__)), "duplicates in __all__"
    for name in module.__all__:
        value = getattr(module, name)
        # Every public name is defined in the sub-package itself, not re-exported from a private core module.
        origin = getattr(value, "__module__", module_name)
        if isinstance(origin, str) and origin.startswith("flyte_remote_core"):
            assert origin.startswith(module_name), f"{module_name}.{name} comes from {origin}"
