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
