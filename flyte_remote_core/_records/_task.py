"""Deployed tasks and their typed interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._default_client import resolve_client
from .._errors import ConfigurationError
from .._syncify import syncify, syncify_classmethod
from ..codec import describe, from_literal, inputs_to_literals
from ._bound import BoundRecord
from ._json import ToJSONMixin

if TYPE_CHECKING:
    from .._services import Services

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<required>"})()


@dataclass(frozen=True)
class TaskInput:
    """One declared input: its name, readable type, wire type and default."""

    name: str
    type: str
    literal_type: Any
    default: Any = _MISSING
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class TaskOutput:
    name: str
    type: str
    literal_type: Any
    description: str = ""


class Task(ToJSONMixin, BoundRecord):
    """A deployed task version. ``pb2`` is ``task_definition_pb2.Task`` or ``TaskDetails``."""

    def __init__(self, pb2: Any, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self._services = services

    # -- identity -----------------------------------------------------------------
    @property
    def task_id(self) -> Any:
        return self.pb2.task_id

    @property
    def name(self) -> str:
        """The name of the task."""
        return str(self.pb2.task_id.name)

    @property
    def version(self) -> str:
        """The version of the task."""
        return str(self.pb2.task_id.version)

    @property
    def project(self) -> str:
        return str(self.pb2.task_id.project)

    @property
    def domain(self) -> str:
        return str(self.pb2.task_id.domain)

    # -- interface ----------------------------------------------------------------
    @property
    def spec(self) -> Any:
        if not hasattr(self.pb2, "spec"):
            raise AttributeError("this Task was listed, not fetched: its spec is not loaded; use client.get_task()")
        return self.pb2.spec

    @property
    def interface(self) -> Any:
        return self.spec.task_template.interface

    @property
    def default_inputs(self) -> list[Any]:
        return list(self.spec.default_inputs)

    @property
    def inputs(self) -> list[TaskInput]:
        defaults = {p.name: p.parameter for p in self.spec.default_inputs}
        result = []
        for entry in self.interface.inputs.variables:
            param = defaults.get(entry.key)
            default = _MISSING
            if param is not None and param.HasField("default"):
                default = from_literal(param.default, entry.value.type)
            result.append(
                TaskInput(entry.key, describe(entry.value.type), entry.value.type, default, entry.value.description)
            )
        return result

    @property
    def outputs(self) -> list[TaskOutput]:
        return [
            TaskOutput(e.key, describe(e.value.type), e.value.type, e.value.description)
            for e in self.interface.outputs.variables
        ]

    def to_inputs(self, values: Mapping[str, Any] | None) -> Any:
        """Check and convert Python values to wire inputs; raises InvalidInputError before anything is sent."""
        return inputs_to_literals(dict(values or {}), self.interface, self.default_inputs, task=self.name)

    # -- seed API -------------------------------------------------------------------
    @syncify_classmethod
    async def get(
        cls,
        name: str,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
        auto_version: str | None = None,
        *,
        client: Any = None,
    ) -> Task:
        """Get a task by name; ``version`` None or "latest" picks the newest deployed version.

        ``auto_version="latest"`` asks for the newest version too (the seed's spelling); any
        other ``auto_version`` is refused, since this client computes no versions of its own.
        """
        if auto_version is not None:
            if auto_version != "latest":
                raise ConfigurationError(
                    f"auto_version must be None or 'latest', got {auto_version!r}: this client computes no versions"
                )
            if version not in (None, "", "latest"):
                raise ConfigurationError(f"pass either version={version!r} or auto_version='latest', not both")
            version = "latest"
        task: Task = await resolve_client(client).get_task.aio(name, version=version, project=project, domain=domain)
        return task

    @syncify
    async def sync(self) -> Task:
        """Fetch the full details of this task version again."""
        self.pb2 = await self._require().tasks.details(self.task_id)
        return self

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, version={self.version!r}, project={self.project!r}, domain={self.domain!r})"


async def fetch_task(
    services: Services, name: str, version: str | None, *, project: str | None, domain: str | None
) -> Task:
    """A deployed task; ``version`` None or "latest" picks the newest deployed version."""
    project, domain = services.scope.resolve(project, domain)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"task name must be a non-empty string, got {name!r}")
    if version in (None, "", "latest"):
        version = await services.tasks.latest_version(name, project, domain)
    details = await services.tasks.details(services.tasks.task_id(name, str(version), project, domain))
    return Task(details, services=services)
