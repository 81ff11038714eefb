"""The YAML component (through Dagster's sandbox), asset specs with a translator, secrets."""

import dagster as dg
import pytest
from dagster import AssetExecutionContext
from dagster.components.testing import create_defs_folder_sandbox

from flyte_dagster import (
    DagsterFlyteTranslator,
    FlyteResource,
    FlyteTaskComponent,
    FlyteTaskInterface,
    build_flyte_asset,
    load_flyte_asset_specs,
)

from .helpers import create_runs, scaffold_flyte_component

pytestmark = pytest.mark.timeout(120)


def test_component_loads_in_the_sandbox_and_materializes(flyte_devserver):
    with create_defs_folder_sandbox() as sandbox:
        defs_path = scaffold_flyte_component(
            sandbox,
            {
                "task": "sample_tasks.add",
                "key": "flyte/total",
                "inputs": {"x": 20, "y": 22},
                "group_name": "flyte_tasks",
                "connection": {"endpoint": flyte_devserver.endpoint, "insecure": True},
            },
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, FlyteTaskComponent)
            key = dg.AssetKey(["flyte", "total"])
            assets_def = defs.resolve_assets_def(key)
            assert assets_def.group_names_by_key[key] == "flyte_tasks"
            assert "flyte" in assets_def.specs_by_key[key].kinds
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process()
            assert result.success
            assert result.output_for_node("flyte__total") == 42
    assert create_runs(flyte_devserver.admin) == 1


def test_component_with_declared_interface_and_upstream(flyte_devserver):
    with create_defs_folder_sandbox() as sandbox:
        base = sandbox.scaffold_component(
            component_cls=FlyteTaskComponent,
            defs_path="base",
            defs_yaml_contents={
                "type": "flyte_dagster.FlyteTaskComponent",
                "attributes": {
                    "task": "sample_tasks.add",
                    "key": "base",
                    "inputs": {"x": 1, "y": 2},
                    "interface": {"inputs": {"x": "int", "y": "int"}, "outputs": ["o0"]},
                    "connection": {"endpoint": flyte_devserver.endpoint, "insecure": True},
                },
            },
        )
        sandbox.scaffold_component(
            component_cls=FlyteTaskComponent,
            defs_path="doubled",
            defs_yaml_contents={
                "type": "flyte_dagster.FlyteTaskComponent",
                "attributes": {
                    "task": "sample_tasks.add",
                    "key": "doubled",
                    "ins": {"x": "base", "y": "base"},
                    "interface": {"inputs": ["x", "y"], "outputs": ["o0"]},
                },
            },
        )
        assert base.exists()
        flyte_devserver.admin.reset_counters()
        with sandbox.build_all_defs() as defs:
            assert sum(flyte_devserver.admin.counters().values()) == 0  # declared: no lookup at load
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process()
            assert result.success
            assert result.output_for_node("doubled") == 6


def test_load_flyte_asset_specs_with_translator_and_cache(flyte_devserver, flyte):
    class MyTranslator(DagsterFlyteTranslator):
        def get_asset_spec(self, props: FlyteTaskInterface) -> dg.AssetSpec:
            spec = super().get_asset_spec(props)
            return spec.replace_attributes(
                key=dg.AssetKey(["remote", props.task_name.split(".")[-1]]), group_name="remote"
            )

    admin = flyte_devserver.admin
    admin.reset_counters()
    specs = load_flyte_asset_specs(flyte, MyTranslator(), selector="dagster_tasks.*")
    keys = {s.key.to_user_string() for s in specs}
    assert keys == {"remote/numbers", "remote/stats", "remote/tally", "remote/day_label", "remote/fail", "remote/slow"}
    stats = next(s for s in specs if s.key.path[-1] == "stats")
    assert stats.metadata["dagster-flyte/task"] == "dagster_tasks.stats"
    assert stats.metadata["dagster-flyte/inputs"].value == {"values": "list[float]"}
    assert stats.group_name == "remote"
    calls = sum(admin.counters().values())
    assert calls > 0
    again = load_flyte_asset_specs(flyte, MyTranslator(), selector="dagster_tasks.*")
    assert [s.key for s in again] == [s.key for s in specs]
    assert sum(admin.counters().values()) == calls  # cached: no second round of calls

    defaults = load_flyte_asset_specs(flyte, selector=["sample_tasks.add"])
    assert [s.key for s in defaults] == [dg.AssetKey(["flyte", "sample_tasks", "add"])]
    assert defaults[0].kinds == {"flyte"}


@pytest.mark.flyte_devserver_options(auth=True)
def test_credentials_never_reach_reprs_logs_metadata_or_failures(flyte_devserver, monkeypatch, capfd):
    from flyte_remote_core import parse_api_key

    auth = flyte_devserver.server.auth_manager
    api_key = auth.create_api_key(flyte_devserver.endpoint)
    client_id, client_secret = auth.create_client("dagster")
    wrong_secret = "wrong-secret-value-0123456789"
    secrets = [api_key, parse_api_key(api_key).client_secret, client_secret, wrong_secret]
    monkeypatch.setenv("MY_FLYTE_KEY", api_key)
    monkeypatch.setenv("MY_FLYTE_SECRET", client_secret)
    by_key = FlyteResource(endpoint=flyte_devserver.endpoint, insecure=True, api_key=dg.EnvVar("MY_FLYTE_KEY"))
    by_client = FlyteResource(
        endpoint=flyte_devserver.endpoint,
        insecure=True,
        client_id=client_id,
        client_secret=dg.EnvVar("MY_FLYTE_SECRET"),
    )
    refused = FlyteResource(
        endpoint=flyte_devserver.endpoint, insecure=True, client_id=client_id, client_secret=wrong_secret
    )
    seen: list[str] = [repr(r) + str(r) for r in (by_key, by_client, refused)]

    @dg.asset
    def secretive(context: AssetExecutionContext, flyte: FlyteResource) -> int:
        seen.append(repr(flyte))
        seen.append(repr(flyte.get_client()))
        result = flyte.run_task(context, "dagster_tasks.slow", {"seconds": 1.0})  # prints a log line
        seen.append(repr(result))
        return 1

    failing = build_flyte_asset(
        "dagster_tasks.fail",
        key="failing",
        inputs={"message": "boom"},
        interface=FlyteTaskInterface.declare("dagster_tasks.fail", inputs={"message": str}),
    )
    with dg.instance_for_test() as instance:
        runs = [
            dg.materialize([secretive], resources={"flyte": by_key}, instance=instance),
            dg.materialize([secretive], resources={"flyte": by_client}, instance=instance),
            dg.materialize([failing], resources={"flyte": by_key}, instance=instance, raise_on_error=False),
            dg.materialize([failing], resources={"flyte": refused}, instance=instance, raise_on_error=False),
        ]
        assert [r.success for r in runs] == [True, True, False, False]
        failures = [e.step_failure_data.user_failure_data for r in runs[2:] for e in r.get_step_failure_events()]
        assert failures[0].metadata["dagster-flyte/error_kind"].value == "USER"  # the credentials worked
        assert failures[1].metadata["dagster-flyte/error_kind"].value == "TRANSPORT"  # refused by the backend
        assert "UNAUTHENTICATED" in failures[1].description
        assert failures[1].metadata["dagster-flyte/retryable"].value is False  # AuthenticationError.retryable
        entries = [entry for r in runs for entry in instance.all_logs(r.run_id)]
        messages = [e.user_message for e in entries]
        everything = "\n".join(
            [*map(str, entries), *messages, *seen, *(f"{f.description} {f.metadata}" for f in failures)]
        )
    assert "dagster-flyte/run_url" in everything  # the metadata is there...
    assert any("Launched Flyte run" in m for m in messages)
    assert any("slow task started" in m for m in messages)  # ...and remote log lines
    captured = capfd.readouterr()
    for secret in secrets:
        assert secret not in everything  # ...the secrets are not
        assert secret not in captured.out + captured.err


def test_flyte_resource_reads_the_environment_and_run_config_overrides_it(flyte_devserver, monkeypatch):
    from flyte_dagster import flyte_resource

    monkeypatch.setenv("FLYTE_ENDPOINT", flyte_devserver.endpoint)
    monkeypatch.setenv("FLYTE_INSECURE", "true")
    total = build_flyte_asset("sample_tasks.add", key="total", inputs={"x": 2, "y": 2}, resource=flyte_resource)
    result = dg.materialize([total], resources={"flyte": flyte_resource})
    assert result.output_for_node("total") == 4
    # run config wins over the environment: an unknown project fails the launch
    with pytest.raises(dg.Failure, match="no-such-project"):
        dg.materialize(
            [total],
            resources={"flyte": flyte_resource},
            run_config={"resources": {"flyte": {"config": {"project": "no-such-project"}}}},
        )


def test_missing_endpoint_is_a_clear_non_retryable_failure(monkeypatch):
    for name in ("FLYTE_ENDPOINT", "FLYTE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    from flyte_dagster import flyte_resource

    @dg.asset
    def lonely(context: AssetExecutionContext, flyte: FlyteResource) -> int:
        return flyte.run_task(context, "sample_tasks.add", {"x": 1, "y": 1}).value

    with pytest.raises(dg.Failure, match="FLYTE_ENDPOINT") as info:
        dg.materialize([lonely], resources={"flyte": flyte_resource})
    assert info.value.allow_retries is False
