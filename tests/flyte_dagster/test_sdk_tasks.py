"""The main job on real Flyte code: assets materialized by tasks deployed with the official SDK,
their outputs passed on as Dagster values (the SDK's venv runs them on the devserver)."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from flyte_dagster import FlyteResource, build_flyte_asset
from tests.sdk_support import requires_sdk

pytestmark = [requires_sdk, pytest.mark.timeout(240)]


def test_assets_run_sdk_deployed_tasks_and_pass_their_outputs_on(sdk_deployed: Any) -> None:
    flyte = FlyteResource(endpoint=sdk_deployed.endpoint, insecure=True, project="flytesnacks", domain="development")
    total = build_flyte_asset("sdkt.add", key="sdk_total", inputs={"a": 1, "b": 2}, resource=flyte)
    doubled = build_flyte_asset("sdkt.parent", key="sdk_doubled", ins={"n": "sdk_total"}, resource=flyte)
    seen: dict[str, object] = {}

    @dg.asset
    def sdk_report(sdk_total: int, sdk_doubled: int) -> str:
        seen.update(total=sdk_total, doubled=sdk_doubled)
        return f"{sdk_total}->{sdk_doubled}"

    result = dg.materialize([total, doubled, sdk_report], resources={"flyte": flyte})
    assert result.success
    assert seen == {"total": 3, "doubled": 8}  # parent(3) = (3 + 1) * 2, through a nested action
    mat = next(
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("sdk_doubled")
    )
    assert mat.metadata["dagster-flyte/task"].value == "sdkt.parent"
