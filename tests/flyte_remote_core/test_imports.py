"""A process that only launches and waits loads no HTTP client library and no terminal UI: they
cost a third of a fresh client's import time and are needed only for uploads, OAuth discovery or a
live wait panel."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

_CLIENT = textwrap.dedent(
    """
    import json, sys
    from flyte_remote_core import FlyteClient

    with FlyteClient(sys.argv[1], insecure=True, project="flytesnacks", domain="development") as client:
        task = client.get_task("sample_tasks.add")
        run = client.run(task, {"x": 1, "y": 2}).wait(quiet=True, timeout=60)
        outputs = run.outputs().named
    heavy = sorted(m for m in ("httpx", "httpcore", "rich", "click", "pygments") if m in sys.modules)
    print(json.dumps({"phase": run.phase.value, "outputs": outputs, "heavy": heavy}))
    """
)


def test_launching_and_waiting_loads_no_http_client_or_terminal_ui(flyte_devserver: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CLIENT, flyte_devserver.endpoint],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"phase": "SUCCEEDED", "outputs": {"o0": 3}, "heavy": []}
