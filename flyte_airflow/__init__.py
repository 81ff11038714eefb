"""Airflow provider for Flyte 2: FlyteRunOperator, FlyteRunSensor, FlyteHook, FlyteRunTrigger, FlyteRunLink.

Register the connection (example)::

    AIRFLOW_CONN_FLYTE_DEFAULT='{"conn_type": "flyte", "host": "localhost:8090",
                                 "extra": {"insecure": true, "project": "flytesnacks", "domain": "development"}}'
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
