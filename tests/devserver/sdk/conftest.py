"""Fixtures for tests that run real Flyte 2 code (see tests/sdk_support.py for the SDK's venv)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sdk_support import SDK_PYTHON, last_json, requires_sdk, run_sdk

__all__ = ["SDK_PYTHON", "driven", "last_json", "requires_sdk", "run_sdk"]


@pytest.fixture(scope="session")
def driven(sdk_deployed: Any) -> dict[str, Any]:
    """One SDK session: run the project's tasks, wait (see project/drive.py)."""
    return last_json(run_sdk("drive.py", sdk_deployed.endpoint).stdout)
