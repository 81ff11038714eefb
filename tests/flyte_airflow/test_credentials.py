"""Credentials from the connection are used, and never shown: logs, XCom, trigger kwargs, errors, reprs."""

from __future__ import annotations

import json

import pytest

from .conftest import AIRFLOW_HOME
from .test_operator_dags import HEADER

pytestmark = [pytest.mark.timeout(180), pytest.mark.flyte_devserver_options(auth=True)]

DAG_BODY = (
    HEADER
    + """
from flyte_airflow.hooks.flyte import FlyteHook

def record_failure(context):
    dump("failure-{}.json".format(context["ti"].task_id), str(context["exception"]))

class Recording(FlyteRunOperator):
    def defer(self, *, trigger, **kwargs):
        dump("trigger.json", {"kwargs": trigger.serialize()[1], "repr": repr(trigger)})
        return super().defer(trigger=trigger, **kwargs)

    def _finish(self, context, event):
        hook = FlyteHook(self.flyte_conn_id)
        dump("reprs-{}.json".format(self.task_id), [repr(self), repr(event), repr(hook), repr(hook.get_conn()),
                                                     repr(hook.get_conn().config), str(vars(event))])
        hook.close()
        return super()._finish(context, event)

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    Recording(task_id="sync_ok", task_name="sample_tasks.add", inputs={"x": 1, "y": 2})
    Recording(
        task_id="deferred_ok",
        task_name="sample_tasks.sleepy",
        inputs={"seconds": 1.5},
        deferrable=True,
        wait_before_defer=0,
    )
    Recording(task_id="user_error", task_name="sample_tasks.fail_user", inputs={"message": "no good"},
              on_failure_callback=record_failure)
    Recording(task_id="wrong_secret", task_name="sample_tasks.add", inputs={"x": 1, "y": 1},
              flyte_conn_id="flyte_wrong", on_failure_callback=record_failure)
"""
)


def _connection(endpoint: str, **fields) -> str:
    extra = {"insecure": True, "project": "flytesnacks", "domain": "development", **fields.pop("extra", {})}
    return json.dumps({"conn_type": "flyte", "host": endpoint, "extra": extra, **fields})


@pytest.mark.parametrize("kind", ["api_key", "client_credentials"])
def test_credentials_are_used_and_never_shown(dags, flyte_devserver, monkeypatch, capfd, caplog, kind):
    import logging

    caplog.set_level(logging.DEBUG)
    server = flyte_devserver.server
    endpoint = flyte_devserver.endpoint
    auth = server.auth_manager
    client_id, client_secret = auth.create_client("airflow")
    if kind == "api_key":
        from flyte_remote_core import encode_api_key

        api_key = encode_api_key(endpoint, client_id, client_secret)
        good = _connection(endpoint, password=api_key)
        secrets = [api_key, client_secret]
        wrong_secret = "wrong-secret-" + client_secret[:8]
        wrong = _connection(endpoint, password=encode_api_key(endpoint, client_id, wrong_secret))
        secrets.append(encode_api_key(endpoint, client_id, wrong_secret))
    else:
        good = _connection(endpoint, login=client_id, extra={"client_secret": client_secret})
        secrets = [client_secret]
        wrong_secret = "wrong-secret-" + client_secret[:8]
        wrong = _connection(endpoint, login=client_id, extra={"client_secret": wrong_secret})
    secrets.append(wrong_secret)
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", good)
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_WRONG", wrong)
    tokens_before = auth.token_requests

    result = dags.run(DAG_BODY)

    states = result.states()
    assert states["sync_ok"] == states["deferred_ok"] == "success", states
    assert states["user_error"] == states["wrong_secret"] == "failed", states
    assert auth.token_requests > tokens_before, "the connection's credentials must really be used"
    assert result.xcom("sync_ok") == {"o0": 3} and result.xcom("deferred_ok") == {"o0": 1.5}

    # everything a user or another task can see
    seen = {"stdout+stderr": "".join(capfd.readouterr()), "log records": caplog.text}
    for path in sorted(AIRFLOW_HOME.joinpath("logs").rglob("*")) if AIRFLOW_HOME.joinpath("logs").exists() else []:
        if path.is_file():
            seen[f"log file {path.name}"] = path.read_text(errors="replace")
    for name in (
        "trigger.json",
        "failure-user_error.json",
        "failure-wrong_secret.json",
        "reprs-sync_ok.json",
        "reprs-deferred_ok.json",
    ):
        value = result.read(name)
        assert value is not None, f"{name} was not written"
        seen[name] = json.dumps(value)
    seen["xcom"] = json.dumps(_all_xcom(result.dag_run.dag_id), default=str)
    assert "UNAUTHENTICATED" in seen["failure-wrong_secret.json"] or "auth" in seen["failure-wrong_secret.json"].lower()
    assert set(json.loads(seen["trigger.json"])["kwargs"]) >= {"run_name", "flyte_conn_id"}
    for where, text in seen.items():
        for secret in secrets:
            assert secret not in text, f"a credential leaked into {where}"


def _all_xcom(dag_id: str) -> dict[str, object]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id).all()
        return {f"{row.task_id}.{row.key}": XComModel.deserialize_value(row) for row in rows}
