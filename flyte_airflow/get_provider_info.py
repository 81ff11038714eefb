"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Airflow reads this dict without importing the hooks or operators, so it must stay free
of heavy imports.
"""

from __future__ import annotations

from typing import Any

_INTEGRATION = "Flyte"


def get_provider_info() -> dict[str, Any]:
    from flyte_airflow import __version__

    return {
        "package-name": "flyte-integrations",
        "name": "Flyte",
        "description": "Launch Flyte 2 tasks from Airflow, wait for them (synchronously or deferred), "
        "gate on runs with a sensor and pass the task outputs downstream through XCom.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://www.union.ai/docs/v2/flyte/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["flyte_airflow.hooks.flyte"]}],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": ["flyte_airflow.operators.flyte"]}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": ["flyte_airflow.sensors.flyte"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": ["flyte_airflow.triggers.flyte"]}],
        "extra-links": ["flyte_airflow.links.flyte.FlyteRunLink"],
        "connection-types": [
            {
                "connection-type": "flyte",
                "hook-class-name": "flyte_airflow.hooks.flyte.FlyteHook",
                "hook-name": "Flyte",
                "conn-fields": {
                    "client_id": {
                        "label": "Client ID",
                        "description": "OAuth2 client id (client-credentials flow); leave empty with an API key",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_secret": {
                        "label": "Client secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "project": {
                        "label": "Default project",
                        "schema": {"type": ["string", "null"], "default": "flytesnacks"},
                    },
                    "domain": {
                        "label": "Default domain",
                        "schema": {"type": ["string", "null"], "default": "development"},
                    },
                    "org": {
                        "label": "Organization",
                        "description": "Only for multi-tenant backends; taken from the API key when it holds one",
                        "schema": {"type": ["string", "null"]},
                    },
                    "insecure": {
                        "label": "Insecure (plain-text gRPC, no TLS)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "ca_cert_file_path": {
                        "label": "CA certificate path",
                        "description": "PEM bundle to verify the endpoint's TLS certificate (corporate proxies)",
                        "schema": {"type": ["string", "null"]},
                    },
                    "console_url": {
                        "label": "Console URL",
                        "description": "Base URL of the Flyte console when it differs from the API endpoint",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Endpoint", "password": "API key"},
                    "placeholders": {
                        "host": "dns:///flyte.example.com or localhost:8090",
                        "password": "Flyte API key (optional)",
                        "extra": '{"project": "flytesnacks", "domain": "development"}',
                    },
                },
            }
        ],
    }
