"""The every-RPC matrix is split by service: every served service belongs to exactly one table module."""

from __future__ import annotations

from pathlib import Path

from . import rpc_matrix as m
from .cases import GROUPS, REQUIRED


def test_groups_cover_every_served_service_once() -> None:
    grouped = [s for services in GROUPS.values() for s in services]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == set(m.SERVICES) == set(REQUIRED)
    for module in GROUPS:
        assert Path(__file__).with_name(f"{module}.py").is_file(), module
