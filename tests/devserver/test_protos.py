"""The admin API's generated code is reproducible from protos/ with the documented command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "flyte_remote_core" / "devserver" / "_admin_pb"


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    result = subprocess.run(["bash", "protos/generate.sh"], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OUT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    for name in ("admin_pb2.py", "admin_pb2.pyi", "admin_pb2_grpc.py"):
        assert (tmp_path / name).read_text() == (GENERATED / name).read_text(), f"{name} is stale: run make protos"
