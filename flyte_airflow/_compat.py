"""Imports that moved between Airflow 3.0 and 3.3 (the provider supports 3.0 to 3.3).

Airflow 3.0 has no ``airflow.sdk.BaseHook`` and keeps the task exceptions in
``airflow.exceptions``; later releases export both from the task SDK (3.3 deprecates the
old paths), so the SDK path is tried first. Checked on 3.0.6 and 3.3.2 (``make test-compat``
and the main suite); the other imports of the provider resolve on both.
"""

from __future__ import annotations

try:  # task SDK (Airflow > 3.0)
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

try:  # task SDK (Airflow > 3.0)
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

__all__ = ["AirflowException", "AirflowFailException", "AirflowSensorTimeout", "AirflowSkipException", "BaseHook"]
