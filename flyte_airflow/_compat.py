"""Imports that moved between Airflow 3.0 and 3.3 (the provider supports 3.0 to 3.3).

Airflow 3.0 has no ``airflow.sdk.BaseHook`` and keeps the task exceptions in
``airflow.exceptions``; later releases export both from the task SDK (3.3 deprecates the
old paths), so the SDK path is tried first. ``ResumableJobMixin`` exists from 3.3 on; before,
a stand-in runs the same three steps (deterministic run names still make retries attach).
Checked on 3.0.6 and 3.3.2 (``make test-compat`` and the main suite); the other imports of
the provider resolve on both.
"""

from __future__ import annotations

from typing import Any

try:  # task SDK (Airflow > 3.0)
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined,unused-ignore]

try:  # task SDK (Airflow > 3.0)
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )


try:  # Airflow >= 3.3: crash-safe synchronous execution through task_state_store
    from airflow.sdk import ResumableJobMixin

    HAS_RESUMABLE = True
except ImportError:  # pragma: no cover - Airflow 3.0 to 3.2
    HAS_RESUMABLE = False

    class ResumableJobMixin:  # type: ignore[no-redef]
        """Stand-in for Airflow < 3.3: deterministic run names still make retries attach."""

        external_id_key = "remote_job_id"

        def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.durable = durable

        def execute_resumable(self, context: Any) -> Any:
            external_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` (the configuration module moved in 3.1)."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover
        from airflow.configuration import conf  # type: ignore[no-redef,unused-ignore]
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


__all__ = [
    "HAS_RESUMABLE",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "ResumableJobMixin",
    "default_deferrable",
]
