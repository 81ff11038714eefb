"""Which run a try uses: new inputs launch anew, same inputs reuse, finished runs skip the trigger."""

from __future__ import annotations

import pytest

from .test_operator_dags import HEADER

pytestmark = pytest.mark.timeout(120)

# The first try's run succeeds, then the try fails (as a cleared task would be re-run):
# the second try renders its inputs again. Each try records the run it used.
RERUN_DAG = (
    HEADER
    + """
class FailFirstTry(FlyteRunOperator):
    def _announce(self, context, run):
        dump("run{}.json".format(context["ti"].try_number), run.name)
        super()._announce(context, run)

    def _finish(self, context, event):  # the last step of both modes
        outputs = super()._finish(context, event)
        try_number = context["ti"].try_number
        dump("outputs{}.json".format(try_number), outputs)
        if try_number == 1:
            raise RuntimeError("the first try fails after its Flyte run succeeded")
        return outputs

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FailFirstTry(task_id="add", task_name="sample_tasks.add", inputs={"x": "{x}", "y": 1},
                 retries=1, retry_delay=timedelta(seconds=0), deferrable={deferrable})
"""
)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_new_try_with_new_inputs_launches_a_new_run(dags, flyte_conn, deferrable):
    result = dags.run(RERUN_DAG.replace("{x}", "{{ ti.try_number * 10 }}").replace("{deferrable}", str(deferrable)))
    assert result.state == "success", result.states()
    assert result.read("outputs1.json") == {"o0": 11}
    assert result.read("outputs2.json") == {"o0": 21}, "the new try must not reuse the run made for other inputs"
    assert result.read("run1.json") != result.read("run2.json")
    assert flyte_conn.admin.call_count("CreateRun") == 2
    assert result.xcom("add") == {"o0": 21}
    assert result.xcom("add", "run_name") == result.read("run2.json")


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_new_try_with_same_inputs_reuses_the_succeeded_run(dags, flyte_conn, deferrable):
    result = dags.run(RERUN_DAG.replace("{x}", "10").replace("{deferrable}", str(deferrable)))
    assert result.state == "success", result.states()
    assert result.read("outputs1.json") == result.read("outputs2.json") == {"o0": 11}
    assert result.read("run1.json") == result.read("run2.json")
    assert flyte_conn.admin.call_count("CreateRun") == 1, "same task, same inputs: the succeeded run is reused"


def test_deferrable_run_already_finished_returns_without_a_trigger(dags, flyte_conn):
    # A run of that name has already succeeded (an earlier try, or a run made elsewhere).
    flyte_conn.client.run("sample_tasks.add", {"x": 4, "y": 5}, name="done-before").wait(quiet=True)
    result = dags.run(
        HEADER
        + """
class NoDefer(FlyteRunOperator):
    def defer(self, *args, **kwargs):
        dump("deferred.json", True)
        return super().defer(*args, **kwargs)

with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    NoDefer(task_id="add", task_name="sample_tasks.add", inputs={"x": 4, "y": 5}, run_name="done-before",
            deferrable=True)
"""
    )
    assert result.state == "success", result.states()
    assert result.read("deferred.json") is None, "a finished run must not go through the triggerer"
    assert result.xcom("add") == {"o0": 9}
    assert result.xcom("add", "run_name") == "done-before"
    assert flyte_conn.admin.call_count("CreateRun") == 1  # only the run made above

    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        assert not [t for t in session.query(Trigger).all() if "done-before" in str(t.kwargs)]


def test_explicit_run_name_uses_core_attempt_names(dags, flyte_conn):
    # try 1 fails with a SYSTEM error under "mine"; try 2 launches "mine-2" (the core's naming)
    result = dags.run(
        HEADER
        + """
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="crash", task_name="sample_tasks.crash", inputs={"code": 3}, run_name="mine",
                     retries=1, retry_delay=timedelta(seconds=0))
"""
    )
    assert result.state == "failed"
    assert result.xcom("crash", "run_name") == "mine-2"
    client = flyte_conn.client
    assert client.get_run("mine").phase.value == "FAILED"
    assert client.get_run("mine-2").phase.value == "FAILED"
    assert flyte_conn.admin.call_count("CreateRun") == 2
