"""Deployed Flyte tasks as Dagster asset specs, through a subclassable translator."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import dagster as dg

from ._interface import FlyteTaskInterface, load_once
from ._results import METADATA_PREFIX

if TYPE_CHECKING:
    from ._resource import FlyteResource

__all__ = ["DagsterFlyteTranslator", "FlyteTaskSelector", "load_flyte_asset_specs"]

FlyteTaskSelector = Callable[[str], bool] | str | Sequence[str]
"""Which tasks to load: a predicate on the task name, a glob (``"tasks.*"``), or a list of names."""


class DagsterFlyteTranslator:
    """Turns a deployed task's :class:`FlyteTaskInterface` into an ``AssetSpec``.

    Subclass and override :meth:`get_asset_spec` (or call ``super()`` and ``.replace_attributes``/
    ``.merge_attributes`` on its result) to change keys, groups, descriptions or metadata.
    """

    def get_asset_key(self, props: FlyteTaskInterface) -> dg.AssetKey:
        return dg.AssetKey(["flyte", *props.task_name.split(".")])

    def get_asset_spec(self, props: FlyteTaskInterface) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=self.get_asset_key(props),
            description=props.description or f"Flyte task {props.task_name} ({props.project}/{props.domain})",
            group_name=props.project.replace("-", "_") or None,
            kinds={"flyte"},
            metadata={
                f"{METADATA_PREFIX}task": props.task_name,
                f"{METADATA_PREFIX}version": props.version,
                f"{METADATA_PREFIX}project": props.project,
                f"{METADATA_PREFIX}domain": props.domain,
                f"{METADATA_PREFIX}inputs": dg.MetadataValue.json(
                    {i.name: i.type + ("" if i.required else " (optional)") for i in props.inputs}
                ),
                f"{METADATA_PREFIX}outputs": dg.MetadataValue.json({o.name: o.type for o in props.outputs}),
            },
        )


def _matcher(selector: FlyteTaskSelector | None) -> tuple[Callable[[str], bool], str]:
    """A predicate and a stable description of it (part of the cache key)."""
    if selector is None:
        return (lambda name: True), "*"
    if isinstance(selector, str):
        return (lambda name: fnmatch.fnmatchcase(name, selector)), selector
    if callable(selector):
        return selector, f"fn:{getattr(selector, '__module__', '')}.{getattr(selector, '__qualname__', repr(selector))}"
    names = set(selector)
    return (lambda name: name in names), ",".join(sorted(names))


def load_flyte_asset_specs(
    resource: FlyteResource,
    translator: DagsterFlyteTranslator | None = None,
    selector: FlyteTaskSelector | None = None,
    *,
    project: str | None = None,
    domain: str | None = None,
) -> list[dg.AssetSpec]:
    """Asset specs for the tasks deployed in a project and domain (latest version of each).

    The backend is asked once per code-location load (``ListTasks``, then the details
    of each selected task); run workers that reload the definitions get the same list
    from Dagster's reconstruction metadata without calling it. The specs describe the
    tasks; materialize them with :func:`build_flyte_asset` (same key) or an op.
    """
    translator = translator or DagsterFlyteTranslator()
    matches, described = _matcher(selector)
    default_project, default_domain = resource.scope()
    scope_project = project or default_project
    scope_domain = domain or default_domain

    def fetch() -> str:
        with resource.make_client() as client:
            listed = client.list_tasks(project=project, domain=domain, limit=10_000)
            chosen = sorted({t.name for t in listed if matches(t.name)})
            by_name = {t.name: t for t in listed}
            interfaces = [
                FlyteTaskInterface.from_task(client.get_task(n, by_name[n].version, project=project, domain=domain))
                for n in chosen
            ]
        return json.dumps([json.loads(i.to_json()) for i in interfaces])

    state = load_once(f"flyte_dagster/specs/{scope_project}/{scope_domain}/{described}", fetch)
    return [translator.get_asset_spec(FlyteTaskInterface.from_json(data)) for data in json.loads(state)]
