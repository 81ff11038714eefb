"""Flyte-backed assets declared in YAML (``defs/*/defs.yaml``), with the Flyte resource from FLYTE_*."""

from pathlib import Path

import dagster as dg

from flyte_dagster import flyte_resource


@dg.definitions
def defs() -> dg.Definitions:
    components = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(components, dg.Definitions(resources={"flyte": flyte_resource}))
