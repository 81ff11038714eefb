"""Assets and ops backed by real runs on the devserver."""

from __future__ import annotations

import dagster as dg
import pytest

from flyte_dagster import FlyteResource, FlyteTaskInterface, build_flyte_asset, build_flyte_op
from tests.flyte_dagster.dagster_tasks import Stats

from .helpers import create_runs

pytestmark = pytest.mark.timeout(120)


def _materialization(result: dg.ExecuteInProcessResult, key: str) -> dg.AssetMaterialization:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey.from_user_string(key)]
    assert len(events) == 1, [e.asset_key for e in result.get_asset_materialization_events()]
    return events[0].materialization


def test_outputs_reach_downstream_assets_as_typed_values(flyte_devserver, flyte):
    total = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": 1, "y": 2}, resource=flyte)
    nums = build_flyte_asset("dagster_tasks.numbers", key="nums", ins={"n": "total"}, resource=flyte)
    summary = build_flyte_asset(
        "dagster_tasks.stats", key="summary", ins={"values": "nums"}, output_types={"o0": Stats}, resource=flyte
    )
    counts = build_flyte_asset("dagster_tasks.tally", key="counts", inputs={"words": ["a", "b", "a"]}, resource=flyte)
    seen: dict[str, object] = {}

    @dg.asset
    def report(total: int, nums: list, summary: Stats, counts: dict) -> str:
        seen.update(total=total, nums=nums, summary=summary, counts=counts)
        return f"{total}/{len(nums)}/{summary.mean}/{counts['a']}"

    result = dg.materialize([total, nums, summary, counts, report], resources={"flyte": flyte})
    assert result.success
    assert seen["total"] == 3 and type(seen["total"]) is int
    assert seen["nums"] == [0, 1, 2]
    assert seen["summary"] == Stats(count=3, mean=1.0)
    assert seen["counts"] == {"a": 2, "b": 1}
    assert result.output_for_node("report") == "3/3/1.0/2"

    meta = _materialization(result, "total").metadata
    url = meta["dagster-flyte/run_url"]
    assert isinstance(url, dg.UrlMetadataValue)
    run_name = meta["dagster-flyte/run_name"].value
    assert url.url.endswith(f"/runs/{run_name}") and run_name.startswith("dg-")
    assert meta["dagster-flyte/phase"].value == "SUCCEEDED"
    assert meta["dagster-flyte/attempts"].value >= 1
    assert meta["dagster-flyte/launch"].value == "launched"
    # the remote run is real and ended SUCCEEDED
    assert flyte_devserver.client.get_run(run_name).phase.value == "SUCCEEDED"
    assert create_runs(flyte_devserver.admin) == 4


@pytest.mark.parametrize("stream_logs", [True, False])
def test_run_url_is_logged_at_launch_and_remote_logs_reach_the_step_log(flyte_devserver, stream_logs):
    flyte = FlyteResource(endpoint=flyte_devserver.endpoint, insecure=True, stream_logs=stream_logs)
    slow = build_flyte_asset("dagster_tasks.slow", key="slow", inputs={"seconds": 1.0}, resource=flyte)
    with dg.instance_for_test() as instance:
        result = dg.materialize([slow], resources={"flyte": flyte}, instance=instance)
        step_log = [(e.user_message, e.timestamp) for e in instance.all_logs(result.run_id) if e.step_key == "slow"]
    meta = _materialization(result, "slow").metadata
    name, url = meta["dagster-flyte/run_name"].value, meta["dagster-flyte/run_url"].url
    launched = [t for m, t in step_log if m == f"Launched Flyte run {name} of dagster_tasks.slow: {url}"]
    assert len(launched) == 1, step_log
    remote = [t for m, t in step_log if m == f"[flyte {name}] slow task started"]
    if stream_logs:
        assert len(remote) == 1 and remote[0] >= launched[0], step_log
    else:
        assert not any(m.startswith("[flyte ") for m, _ in step_log), step_log


def test_dataclass_output_is_a_dict_without_output_types(flyte):
    summary = build_flyte_asset("dagster_tasks.stats", key="summary", inputs={"values": [2.0, 4.0]}, resource=flyte)
    result = dg.materialize([summary], resources={"flyte": flyte})
    assert result.output_for_node("summary") == {"count": 2, "mean": 3.0}


def test_partitioned_asset_passes_its_partition_key(flyte_devserver, flyte):
    parts = dg.StaticPartitionsDefinition(["2024-01-01", "2024-01-02"])
    labelled = build_flyte_asset(
        "dagster_tasks.day_label", key="labelled", partition_input="day", partitions_def=parts, resource=flyte
    )
    result = dg.materialize([labelled], resources={"flyte": flyte}, partition_key="2024-01-02")
    assert result.output_for_node("labelled") == "day 2024-01-02!"
    other = dg.materialize([labelled], resources={"flyte": flyte}, partition_key="2024-01-01")
    assert other.output_for_node("labelled") == "day 2024-01-01!"
    # each partition is its own remote run
    names = {_materialization(r, "labelled").metadata["dagster-flyte/run_name"].value for r in (result, other)}
    assert len(names) == 2


def test_static_inputs_are_overridable_by_run_config(flyte):
    total = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": 1, "y": 2}, resource=flyte)
    result = dg.materialize(
        [total], resources={"flyte": flyte}, run_config={"ops": {"total": {"config": {"inputs": {"y": 40}}}}}
    )
    assert result.output_for_node("total") == 41


def test_multi_output_task_is_a_subsettable_multi_asset(flyte_devserver, flyte):
    parts = build_flyte_asset("sample_tasks.divmod_task", key="dm", inputs={"a": 17, "b": 5}, resource=flyte)
    assert {k.to_user_string() for k in parts.keys} == {"dm/o0", "dm/o1"}
    assert parts.can_subset

    @dg.asset(ins={"quotient": dg.AssetIn(key=["dm", "o0"]), "remainder": dg.AssetIn(key=["dm", "o1"])})
    def both(quotient: int, remainder: int) -> int:
        return quotient * 10 + remainder

    result = dg.materialize([parts, both], resources={"flyte": flyte})
    assert result.output_for_node("both") == 32
    subset = dg.materialize([parts], resources={"flyte": flyte}, selection=[dg.AssetKey(["dm", "o1"])])
    assert [e.asset_key for e in subset.get_asset_materialization_events()] == [dg.AssetKey(["dm", "o1"])]


def test_op_job_with_upstream_input_and_ordering(flyte_devserver, flyte):
    add = build_flyte_op("sample_tasks.add", inputs={"y": 10}, resource=flyte)
    assert set(add.ins) == {"x", "start_after"}
    assert set(add.outs) == {"o0"}

    @dg.op
    def five() -> int:
        return 5

    @dg.op(out=dg.Out(dg.Nothing))
    def first() -> None:
        return None

    @dg.op
    def check(value: int) -> int:
        assert value == 15
        return value

    @dg.job(resource_defs={"flyte": flyte})
    def flyte_job():
        check(add(x=five(), start_after=first()))

    result = flyte_job.execute_in_process()
    assert result.success
    assert result.output_for_node("sample_tasks__add", "o0") == 15
    outputs = [
        e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "sample_tasks__add"
    ]
    meta = outputs[0].event_specific_data.metadata
    assert "dagster-flyte/run_url" in meta


def test_declared_interface_needs_no_backend_call_at_definition_time(flyte_devserver, flyte):
    admin = flyte_devserver.admin
    admin.reset_counters()
    iface = FlyteTaskInterface.declare("sample_tasks.add", inputs={"x": int, "y": int}, outputs={"o0": int})
    build_flyte_op("sample_tasks.add", interface=iface, resource=flyte)
    build_flyte_asset("sample_tasks.add", key="s", inputs={"x": 1, "y": 1}, interface=iface, resource=flyte)
    assert sum(admin.counters().values()) == 0


def test_interface_lookup_happens_once_per_load(flyte_devserver, flyte):
    admin = flyte_devserver.admin
    admin.reset_counters()
    for _ in range(3):
        build_flyte_asset("sample_tasks.add", key="s", inputs={"x": 1, "y": 1}, resource=flyte)
    assert sum(v for k, v in admin.counters().items() if k.endswith("/GetTaskDetails")) == 1


def test_interface_is_replayed_from_reconstruction_metadata_without_a_backend(flyte):
    from dagster._core.definitions.definitions_load_context import (
        DefinitionsLoadContext,
        DefinitionsLoadType,
    )
    from dagster._core.definitions.metadata.metadata_value import CodeLocationReconstructionMetadataValue
    from dagster._core.definitions.repository_definition.repository_definition import RepositoryLoadData

    from flyte_dagster import clear_interface_cache

    init = DefinitionsLoadContext(load_type=DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(init):
        build_flyte_asset("sample_tasks.add", key="s", inputs={"x": 1, "y": 1}, resource=flyte)
    stored = dict(init.get_pending_reconstruction_metadata())
    assert any(k.startswith("flyte_dagster/task/") for k in stored)

    clear_interface_cache()
    unreachable = type(flyte)(endpoint="127.0.0.1:9", insecure=True, project="flytesnacks", domain="development")
    # What a run worker receives from the code server along with the job.
    load_data = RepositoryLoadData(
        reconstruction_metadata={k: CodeLocationReconstructionMetadataValue(v) for k, v in stored.items()}
    )
    recon = DefinitionsLoadContext(load_type=DefinitionsLoadType.RECONSTRUCTION, repository_load_data=load_data)
    with DefinitionsLoadContext.scoped(recon):
        asset = build_flyte_asset("sample_tasks.add", key="s", inputs={"x": 1, "y": 1}, resource=unreachable)
    assert asset.key == dg.AssetKey("s")


def test_invalid_configuration_names_task_and_input(flyte):
    with pytest.raises(dg.DagsterInvalidDefinitionError, match=r"'sample_tasks.add'.*no input 'z'"):
        build_flyte_asset("sample_tasks.add", inputs={"x": 1, "z": 2}, resource=flyte)
    with pytest.raises(dg.DagsterInvalidDefinitionError, match=r"required input\(s\) \['y'\]"):
        build_flyte_asset("sample_tasks.add", inputs={"x": 1}, resource=flyte)
    with pytest.raises(dg.DagsterInvalidDefinitionError, match=r"'sample_tasks.nope'.*not found"):
        build_flyte_op("sample_tasks.nope", resource=flyte)


def test_wrong_input_type_fails_at_launch_naming_the_input(flyte_devserver, flyte):
    total = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": "one", "y": 2}, resource=flyte)
    with pytest.raises(dg.Failure) as info:
        dg.materialize([total], resources={"flyte": flyte})
    assert "'x'" in str(info.value.description) and "sample_tasks.add" in info.value.description
    assert info.value.allow_retries is False
    assert create_runs(flyte_devserver.admin) == 0
