"""What a user sees while the task still waits: the run's name and URL in XCom, and a working link."""

from __future__ import annotations

import threading
import time

import pytest

from .test_operator_dags import HEADER

pytestmark = pytest.mark.timeout(120)


def _xcoms(dag_id: str, task_id: str) -> dict[str, object]:
    from airflow.models import import_all_models
    from airflow.models.xcom import XComModel

    import_all_models()  # the ORM mappers must all be known before the first query from this thread
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, task_id=task_id).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}


def _link_from_the_ui_side(dag, dag_id: str, task_id: str) -> str | None:
    """The link as the API server computes it: the serialized operator's link, read from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id).one()
        session.expunge(ti)
    return scheduler_dag.get_task(task_id).get_extra_links(ti, "Flyte run")


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_run_name_url_and_link_are_visible_while_waiting(dags, flyte_conn, deferrable):
    admin = flyte_conn.admin
    admin.hold(all_new_runs=True)  # the run stays queued until released: the task keeps waiting
    dag_id, path = dags.write(
        HEADER
        + f"""
with DAG("__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    FlyteRunOperator(task_id="add", task_name="sample_tasks.add", inputs={{"x": 1, "y": 2}}, deferrable={deferrable})
"""
    )
    dag = dags.load(path, dag_id)
    _xcoms(dag_id, "add")  # set the ORM up before two threads use it
    seen: dict[str, object] = {}

    def look_while_waiting() -> None:
        # dag.test() must run in the main thread (it installs signal handlers): look from this one
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "_link_FlyteRunLink" not in seen:
                seen.update(_xcoms(dag_id, "add"))
                time.sleep(0.1)
            if seen.get("run_name"):
                seen["phase_then"] = flyte_conn.client.get_run(seen["run_name"]).phase.value
            seen["ui_link"] = _link_from_the_ui_side(dag, dag_id, "add")
        finally:
            admin.release_all()

    looker = threading.Thread(target=look_while_waiting, daemon=True)
    looker.start()
    dag_run = dag.test()
    looker.join(30)
    assert seen.get("run_name") and seen.get("run_url"), seen
    run_name, run_url = seen["run_name"], seen["run_url"]
    assert run_name in run_url
    assert seen["phase_then"] not in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"), "the task must still be waiting"
    assert seen["_link_FlyteRunLink"] == run_url
    assert seen["ui_link"] == run_url
    assert str(dag_run.state) == "success"
    assert _xcoms(dag_id, "add")["return_value"] == {"o0": 3}
