"""Small remote records: Project, Secret, Trigger, User."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyteidl2.secret import definition_pb2
from flyteidl2.trigger import trigger_definition_pb2

from .._syncify import syncify
from ._bound import BoundRecord
from ._json import ToJSONMixin

if TYPE_CHECKING:
    from .._services import Services


class Project(ToJSONMixin, BoundRecord):
    """A project on the backend, with the domains it offers."""

    def __init__(self, pb2: Any, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self._services = services

    @property
    def name(self) -> str:
        return str(self.pb2.id or self.pb2.name)

    @property
    def domains(self) -> list[str]:
        return [d.id or d.name for d in self.pb2.domains]

    def __repr__(self) -> str:
        return f"Project(name={self.name!r}, domains={self.domains!r})"


class Secret(ToJSONMixin, BoundRecord):
    """A secret's name and type. Values are never read back from the backend."""

    def __init__(self, pb2: Any, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self._services = services

    @property
    def name(self) -> str:
        return str(self.pb2.id.name)

    @property
    def type(self) -> str:
        raw = self.pb2.secret_metadata.type if self.pb2.HasField("secret_metadata") else 0
        return definition_pb2.SecretType.Name(raw).removeprefix("SECRET_TYPE_").lower()

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.pop("value", None)
        return data

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, type={self.type!r})"


class Trigger(ToJSONMixin, BoundRecord):
    """A schedule (or other automation) that launches runs of a task."""

    def __init__(self, pb2: Any, details: Any | None = None, *, services: Services | None = None) -> None:
        self.pb2 = pb2
        self.details = details
        self._services = services

    @classmethod
    def from_details(cls, details: Any, services: Services) -> Trigger:
        pb = trigger_definition_pb2.Trigger(
            id=details.id, active=details.spec.active, automation_spec=details.automation_spec
        )
        return cls(pb, details, services=services)

    def _name(self) -> Any:
        return self._require().triggers.trigger_name(
            self.name, self.task_name, self.pb2.id.name.project, self.pb2.id.name.domain
        )

    @property
    def id(self) -> Any:
        return self.pb2.id

    @property
    def name(self) -> str:
        return str(self.pb2.id.name.name)

    @property
    def task_name(self) -> str:
        return str(self.pb2.id.name.task_name)

    @property
    def is_active(self) -> bool:
        return bool(self.pb2.active)

    @property
    def automation_spec(self) -> Any:
        return self.pb2.automation_spec

    @syncify
    async def get_details(self) -> Any:
        """Get detailed information about this trigger (``TriggerDetails``)."""
        self.details = (await self._require().triggers.details(self._name())).trigger
        return self.details

    @syncify
    async def activate(self) -> None:
        """Turn the trigger on: it starts launching runs on its schedule."""
        await self._set_active(True)

    @syncify
    async def deactivate(self) -> None:
        """Turn the trigger off."""
        await self._set_active(False)

    async def _set_active(self, active: bool) -> None:
        await self._require().triggers.set_active(self._name(), active)
        self.pb2.active = active

    def __repr__(self) -> str:
        return f"Trigger(name={self.name!r}, task_name={self.task_name!r}, active={self.is_active})"


class User(ToJSONMixin):
    """The identity the backend sees for our credentials."""

    def __init__(self, pb2: Any) -> None:
        self.pb2 = pb2

    def name(self) -> str:
        return str(self.pb2.name or self.pb2.preferred_username or self.pb2.subject)

    def subject(self) -> str:
        return str(self.pb2.subject)

    def __repr__(self) -> str:
        return f"User(subject={self.subject()!r})"
