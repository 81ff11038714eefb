"""The interface of a Flyte task as Dagster definitions need it: typed records parsed at the edge.

Ops and assets need a task's input and output names when the definitions are built.
That can come from two places:

* declared in code (``FlyteTaskInterface.declare("tasks.add", inputs={"x": int}, outputs={"o0": int})``):
  no remote call ever happens while definitions load;
* looked up from the backend once per code-location load (:func:`fetch_task_interface`):
  the result is kept in an in-process cache and stored in Dagster's *reconstruction
  metadata*, so run and step workers, which load the definitions again, reuse it and
  never call the backend at load time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    from flyte_remote_core import Task

    from ._resource import FlyteResource

__all__ = ["FlyteInputSpec", "FlyteOutputSpec", "FlyteTaskInterface", "fetch_task_interface"]

log = logging.getLogger("flyte_dagster")


def _type_name(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    if tp is None:
        return "any"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


@dataclass(frozen=True)
class FlyteInputSpec:
    """One task input. ``python_type`` is an optional local hint (never serialized)."""

    name: str
    type: str = "any"
    required: bool = True
    python_type: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FlyteOutputSpec:
    """One task output (``o0``, ``o1``, ... for Flyte 2 tasks). ``python_type`` rebuilds dataclasses."""

    name: str
    type: str = "any"
    python_type: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FlyteTaskInterface:
    """Name, version and typed inputs/outputs of a deployed Flyte task."""

    task_name: str
    inputs: tuple[FlyteInputSpec, ...] = ()
    outputs: tuple[FlyteOutputSpec, ...] = ()
    version: str = ""
    project: str = ""
    domain: str = ""
    description: str = ""

    # -- construction -----------------------------------------------------------------
    @classmethod
    def declare(
        cls,
        task_name: str,
        *,
        inputs: Mapping[str, Any] | Sequence[str] = (),
        outputs: Mapping[str, Any] | Sequence[str] = ("o0",),
        optional_inputs: Sequence[str] = (),
        description: str = "",
    ) -> FlyteTaskInterface:
        """Declare an interface in code; no backend call.

        ``inputs``/``outputs`` map names to Python types (or readable type names), or list
        names only. Inputs in ``optional_inputs`` have a default on the remote task.
        """

        def items(spec: Mapping[str, Any] | Sequence[str]) -> list[tuple[str, Any]]:
            if isinstance(spec, str):
                return [(spec, None)]
            if isinstance(spec, Mapping):
                return list(spec.items())
            return [(name, None) for name in spec]

        unknown = set(optional_inputs) - {n for n, _ in items(inputs)}
        if unknown:
            raise dg.DagsterInvalidDefinitionError(
                f"Flyte task {task_name!r}: optional_inputs {sorted(unknown)} are not among its declared inputs"
            )
        return cls(
            task_name=task_name,
            inputs=tuple(
                FlyteInputSpec(n, _type_name(t), n not in optional_inputs, None if isinstance(t, str) else t)
                for n, t in items(inputs)
            ),
            outputs=tuple(FlyteOutputSpec(n, _type_name(t), None if isinstance(t, str) else t) for n, t in items(outputs)),
            description=description,
        )

    @classmethod
    def from_task(cls, task: Task) -> FlyteTaskInterface:
        """Parse a ``flyte_remote_core.Task`` (fetched with ``client.get_task``)."""
        return cls(
            task_name=task.name,
            inputs=tuple(FlyteInputSpec(i.name, i.type, i.required) for i in task.inputs),
            outputs=tuple(FlyteOutputSpec(o.name, o.type) for o in task.outputs),
            version=task.version,
            project=task.project,
            domain=task.domain,
            description=_task_description(task),
        )

    # -- views ---------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    def with_output_types(self, output_types: Mapping[str, Any] | None) -> FlyteTaskInterface:
        """A copy whose outputs carry these Python types (for rebuilding dataclasses)."""
        if not output_types:
            return self
        unknown = set(output_types) - set(self.output_names)
        if unknown:
            raise dg.DagsterInvalidDefinitionError(
                f"Flyte task {self.task_name!r} has no output(s) {sorted(unknown)}; its outputs are {self.output_names}"
            )
        outputs = tuple(
            FlyteOutputSpec(o.name, o.type, output_types.get(o.name, o.python_type)) for o in self.outputs
        )
        return FlyteTaskInterface(self.task_name, self.inputs, outputs, self.version, self.project, self.domain,
                                  self.description)

    def output_types(self) -> dict[str, Any]:
        return {o.name: o.python_type for o in self.outputs if o.python_type is not None}

    def check_inputs(self, names: Sequence[str], *, what: str) -> None:
        """Raise a definition error naming the task and input if a name is not a task input."""
        known = self.input_names
        for name in names:
            if name not in known:
                raise dg.DagsterInvalidDefinitionError(
                    f"Flyte task {self.task_name!r} has no input {name!r} (given in {what}); its inputs are {known}"
                )

    # -- serialization -------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({
            "task_name": self.task_name, "version": self.version, "project": self.project, "domain": self.domain,
            "description": self.description,
            "inputs": [{"name": i.name, "type": i.type, "required": i.required} for i in self.inputs],
            "outputs": [{"name": o.name, "type": o.type} for o in self.outputs],
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> FlyteTaskInterface:
        data = json.loads(text) if isinstance(text, str) else text
        return cls(
            task_name=data["task_name"],
            inputs=tuple(FlyteInputSpec(i["name"], i.get("type", "any"), bool(i.get("required", True)))
                         for i in data.get("inputs", ())),
            outputs=tuple(FlyteOutputSpec(o["name"], o.get("type", "any")) for o in data.get("outputs", ())),
            version=data.get("version", ""),
            project=data.get("project", ""),
            domain=data.get("domain", ""),
            description=data.get("description", ""),
        )


def _task_description(task: Task) -> str:
    try:
        docs = task.spec.documentation
        return str(docs.short_description or docs.long_description.value or "")
    except Exception:  # documentation is optional and shaped differently across versions
        return ""


# -- load-once lookups ----------------------------------------------------------------------

_CACHE: dict[str, str] = {}


def _load_context() -> Any | None:
    try:  # not exported from ``dagster`` in 1.13; present since 1.8
        from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext
    except ImportError:  # pragma: no cover - older/newer Dagster
        return None
    return DefinitionsLoadContext.get()


def load_once(key: str, fetch: Any) -> str:
    """Return the state stored under ``key``: from reconstruction metadata, the process cache, or ``fetch()``.

    The state is recorded as pending reconstruction metadata so workers that reload the
    definitions get it without calling the backend.
    """
    context = _load_context()
    state: str | None = None
    if context is not None:
        from dagster._core.definitions.definitions_load_context import DefinitionsLoadType

        if context.load_type == DefinitionsLoadType.RECONSTRUCTION:
            state = context.reconstruction_metadata.get(key)
    if state is None:
        state = _CACHE.get(key)
    if state is None:
        state = fetch()
        _CACHE[key] = state
    if context is not None:
        context.add_to_pending_reconstruction_metadata(key, state)
    return state


def fetch_task_interface(
    resource: FlyteResource | None,
    task_name: str,
    *,
    version: str | None = None,
    project: str | None = None,
    domain: str | None = None,
) -> FlyteTaskInterface:
    """Look a task's interface up once per code-location load (see the module docstring).

    ``resource`` None means "configured from the FLYTE_* environment variables". An
    unknown task fails with a :class:`dagster.DagsterInvalidDefinitionError` naming it.
    """
    from ._resource import FlyteResource

    res = resource if resource is not None else FlyteResource()
    default_project, default_domain = res.scope()
    scope_project = project or default_project
    scope_domain = domain or default_domain
    key = f"flyte_dagster/task/{scope_project}/{scope_domain}/{task_name}@{version or 'latest'}"

    def fetch() -> str:
        from flyte_remote_core import FlyteError, NotFoundError

        log.info("looking up the interface of Flyte task %s (once per definitions load)", task_name)
        try:
            with res.make_client() as client:
                task = client.get_task(task_name, version, project=project, domain=domain)
                return FlyteTaskInterface.from_task(task).to_json()
        except NotFoundError as exc:
            raise dg.DagsterInvalidDefinitionError(
                f"Flyte task {task_name!r} (version {version or 'latest'}) was not found: {exc}"
            ) from None
        except FlyteError as exc:
            raise dg.DagsterInvalidDefinitionError(
                f"could not look up the interface of Flyte task {task_name!r}: {exc}. Declare it in code "
                "(FlyteTaskInterface.declare) to build definitions without calling the backend."
            ) from exc

    return FlyteTaskInterface.from_json(load_once(key, fetch))


def clear_interface_cache() -> None:
    """Forget cached interfaces (the next definitions load looks them up again)."""
    _CACHE.clear()


def resolve_interface(
    task_name: str,
    interface: FlyteTaskInterface | Mapping[str, Any] | None,
    *,
    resource: FlyteResource | None = None,
    version: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    output_types: Mapping[str, Any] | None = None,
) -> FlyteTaskInterface:
    """The interface to build definitions from: declared (no remote call) or looked up once."""
    if interface is None:
        iface = fetch_task_interface(resource, task_name, version=version, project=project, domain=domain)
    elif isinstance(interface, FlyteTaskInterface):
        iface = interface
    elif isinstance(interface, Mapping):
        iface = FlyteTaskInterface.declare(
            task_name, inputs=interface.get("inputs", ()), outputs=interface.get("outputs", ("o0",)),
            optional_inputs=interface.get("optional_inputs", ()),
        )
    else:
        raise dg.DagsterInvalidDefinitionError(
            f"Flyte task {task_name!r}: interface must be a FlyteTaskInterface or a mapping, got {type(interface).__name__}"
        )
    if iface.task_name != task_name:
        iface = FlyteTaskInterface(task_name, iface.inputs, iface.outputs, iface.version, iface.project, iface.domain,
                                   iface.description)
    return iface.with_output_types(output_types)
