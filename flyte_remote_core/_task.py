"""Deployed tasks and their typed interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._entities import ToJSONMixin
from ._syncify import syncify, syncify_classmethod

if TYPE_CHECKING:
    from ._client import FlyteClient

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


class Task(ToJSONMixin):
    """A deployed task version. ``pb2`` is ``task_definition_pb2.Task`` or ``TaskDetails``."""

    def __init__(self, pb2: Any, *, client: FlyteClient | None = None) -> None:
        self.pb2 = pb2
        self._client = client

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
        from .codec import from_literal
        from .codec import describe

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
        from .codec import describe

        return [
            TaskOutput(e.key, describe(e.value.type), e.value.type, e.value.description)
            for e in self.interface.outputs.variables
        ]

    def to_inputs(self, values: Mapping[str, Any] | None) -> Any:
        """Check and convert Python values to wire inputs; raises InvalidInputError before anything is sent."""
        from .codec import inputs_to_literals

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
        client: FlyteClient | None = None,
    ) -> Task:
        """Get a task by name; ``version`` None or "latest" picks the newest deployed version."""
        from ._default import resolve_client

        return await resolve_client(client).get_task.aio(name, version=version, project=project, domain=domain)

    @syncify
    async def sync(self) -> Task:
        """Fetch the full details of this task version again."""
        assert self._client is not None, "this Task has no client"
        fresh = await self._client.get_task.aio(self.name, version=self.version, project=self.project, domain=self.domain)
        self.pb2 = fresh.pb2
        return self

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, version={self.version!r}, project={self.project!r}, domain={self.domain!r})"
