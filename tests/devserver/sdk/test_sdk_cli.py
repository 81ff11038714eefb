"""The official ``flyte`` command line against the devserver: get runs, get run, get logs, abort run."""

from __future__ import annotations

import ast
import json
import re
import time
from typing import Any

from tests.sdk_support import flyte_cli, last_json, requires_sdk, run_sdk

pytestmark = requires_sdk
SCOPE = ("-p", "flytesnacks", "-d", "development")
_ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def _json(endpoint: str, *args: str) -> Any:
    out = _ANSI.sub("", flyte_cli(endpoint, "-of", "json-raw", *args).stdout)
    try:
        return json.loads(out)
    except json.JSONDecodeError:  # the SDK prints one item as a Python literal, a list as JSON
        return ast.literal_eval(out)


def test_get_runs_lists_the_runs_the_sdk_launched(sdk_server: Any, driven: dict[str, Any]) -> None:
    listed = _json(sdk_server.endpoint, "get", "run", *SCOPE, "--limit", "200")
    names = {entry["action"]["id"]["run"]["name"] for entry in listed}
    assert {driven["add"]["name"], driven["parent"]["name"], driven["fail"]["name"]} <= names


def test_get_run_shows_its_phase_and_task(sdk_server: Any, driven: dict[str, Any]) -> None:
    (details,) = _json(sdk_server.endpoint, "get", "run", driven["add"]["name"], *SCOPE)
    action = details["action"]
    assert action["status"]["phase"] == "ACTION_PHASE_SUCCEEDED"
    assert action["metadata"]["task"]["id"]["name"] == "sdkt.add"
    failed = _json(sdk_server.endpoint, "get", "run", driven["fail"]["name"], *SCOPE)[0]["action"]
    assert failed["status"]["phase"] == "ACTION_PHASE_FAILED"


def test_get_logs_prints_each_line_the_task_printed(sdk_server: Any, driven: dict[str, Any]) -> None:
    out = _ANSI.sub("", flyte_cli(sdk_server.endpoint, "get", "logs", driven["echo"]["name"], *SCOPE).stdout)
    # One line per line the task printed, repeats kept, none run together.
    assert [line.strip() for line in out.splitlines() if line.strip() in ("same line", "last line")] == [
        "same line",
        "same line",
        "same line",
        "last line",
    ], out


def test_abort_run_ends_a_running_run_aborted(sdk_server: Any, sdk_deployed: Any) -> None:
    name = last_json(run_sdk("launch.py", sdk_server.endpoint, "sleeper", "nowait", "seconds=300").stdout)["name"]
    flyte_cli(sdk_server.endpoint, "abort", "run", name, *SCOPE, "--reason", "from the CLI")
    deadline = time.monotonic() + 30
    phase = ""
    while time.monotonic() < deadline:
        phase = _json(sdk_server.endpoint, "get", "run", name, *SCOPE)[0]["action"]["status"]["phase"]
        if phase == "ACTION_PHASE_ABORTED":
            break
        time.sleep(0.3)
    assert phase == "ACTION_PHASE_ABORTED"
