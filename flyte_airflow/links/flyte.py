"""FlyteRunLink: the "Flyte run" button on a task, read back from the ``run_url`` XCom."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

try:  # Airflow 3.x task SDK
    from airflow.sdk.execution_time.xcom import XCom
except ImportError:  # pragma: no cover
    from airflow.models.xcom import XCom  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

RUN_URL_KEY = "run_url"
RUN_NAME_KEY = "run_name"


class FlyteRunLink(BaseOperatorLink):
    """Link to the Flyte console page of the run an operator launched or a sensor watches.

    The operator pushes ``run_url`` before it waits, so the link works while the task
    runs, while it is deferred and after it failed.
    """

    name = "Flyte run"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(ti_key=ti_key, key=RUN_URL_KEY)
        return url if isinstance(url, str) else ""


def announce_run(ti: Any, run_name: str, run_url: str) -> None:
    """Push the run's name and URL, and the link itself, before anything waits.

    The worker stores ``_link_FlyteRunLink`` (what the UI reads) only when the try ends
    or defers; pushing it here makes the link work while a synchronous wait is going on.
    """
    ti.xcom_push(key=RUN_NAME_KEY, value=run_name)
    ti.xcom_push(key=RUN_URL_KEY, value=run_url)
    ti.xcom_push(key=FlyteRunLink().xcom_key, value=run_url)
