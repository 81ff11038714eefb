"""The interface of a Flyte task as Dagster definitions need it: typed records parsed at the edge.

Ops and assets need a task's input and output names when the definitions are built.
That can come from two places:

* declared in code (``FlyteTaskInterface.declare("tasks.add", inputs={"x": int}, outputs={"o0": int})``):
  no remote call ever happens while definitions load;
* read from a snapshot file (``FLYTE_DAGSTER_INTERFACE_SNAPSHOT=path``, written and
  refreshed explicitly with ``python -m flyte_dagster.snapshot <definitions module>``): no
  remote call at load time;
* looked up from the backend once per code-location load (:func:`fetch_task_interface`),
  batched: one ListTasks per project and domain for every asset of the load (then
  GetTaskDetails per task, ListTasks carries no interfaces), over one client. The result is
  kept in an in-process cache and stored in Dagster's *reconstruction metadata*, so run and
  step workers, which load the definitions again, reuse it and never call the backend at
  load time;
* lazily (``interface="lazy"``, or when no backend is configured or reachable while the
  definitions load): the definitions are built from the input names given in code and one
  output, and the task's interface is fetched when the step runs, before the launch, where
  the input names are checked.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
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
    # Built without the backend (``interface="lazy"``): names from the code, checked at run time.
    lazy: bool = field(default=False, compare=False)

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
            outputs=tuple(
                FlyteOutputSpec(n, _type_name(t), None if isinstance(t, str) else t) for n, t in items(outputs)
            ),
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
        outputs = tuple(FlyteOutputSpec(o.name, o.type, output_types.get(o.name, o.python_type)) for o in self.outputs)
        return FlyteTaskInterface(
            self.task_name, self.inputs, outputs, self.version, self.project, self.domain, self.description, self.lazy
        )

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
        return json.dumps(
            {
                "task_name": self.task_name,
                "version": self.version,
                "project": self.project,
                "domain": self.domain,
                "description": self.description,
                "inputs": [{"name": i.name, "type": i.type, "required": i.required} for i in self.inputs],
                "outputs": [{"name": o.name, "type": o.type} for o in self.outputs],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> FlyteTaskInterface:
        data = json.loads(text) if isinstance(text, str) else text
        return cls(
            task_name=data["task_name"],
            inputs=tuple(
                FlyteInputSpec(i["name"], i.get("type", "any"), bool(i.get("required", True)))
                for i in data.get("inputs", ())
            ),
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


SNAPSHOT_ENV = "FLYTE_DAGSTER_INTERFACE_SNAPSHOT"
# Set by ``python -m flyte_dagster.snapshot``: look everything up, ignore (and then rewrite) the file.
REFRESH_ENV = "FLYTE_DAGSTER_INTERFACE_SNAPSHOT_REFRESH"


def _snapshot_path() -> str | None:
    return os.environ.get(SNAPSHOT_ENV) or None


_SNAPSHOT: dict[str, tuple[float, dict[str, str]]] = {}


def read_snapshot(path: str | None = None) -> dict[str, str]:
    """The interfaces stored in the snapshot file (key -> interface JSON); {} without one."""
    path = path or _snapshot_path()
    if not path or os.environ.get(REFRESH_ENV):
        return {}
    try:
        mtime = os.path.getmtime(path)
    except OSError:
        return {}
    cached = _SNAPSHOT.get(path)
    if cached is None or cached[0] != mtime:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        entries = data.get("interfaces", data) if isinstance(data, dict) else {}
        cached = (mtime, {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in entries.items()})
        _SNAPSHOT[path] = cached
    return dict(cached[1])


def write_snapshot(path: str, entries: Mapping[str, str] | None = None) -> int:
    """Write the interfaces looked up in this process (or ``entries``) to ``path``; returns how many."""
    values = dict(_CACHE if entries is None else entries)
    payload = {"version": 1, "interfaces": {k: json.loads(v) for k, v in sorted(values.items())}}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    _SNAPSHOT.pop(path, None)
    return len(values)


class _Batch:
    """One client and one task listing per scope, for every lookup of a definitions load."""

    def __init__(self, resource: FlyteResource) -> None:
        self.resource = resource
        self.client: Any = None
        self.versions: dict[tuple[str, str], dict[str, str]] = {}
        self.lock = threading.Lock()
        # The backend did not answer: the rest of this load goes lazy (for a minute, not forever).
        self.failed: Exception | None = None
        self.failed_at = 0.0

    def get_client(self) -> Any:
        if self.client is None:
            self.client = self.resource.make_client()
        return self.client

    def lookup(self, task_name: str, version: str | None, project: str | None, domain: str | None) -> Task:
        from flyte_remote_core import NotFoundError

        with self.lock:
            if self.failed is not None and time.monotonic() - self.failed_at < 60.0:
                raise self.failed
            try:
                return self._lookup(task_name, version, project, domain)
            except NotFoundError:
                raise
            except Exception as exc:
                self.failed, self.failed_at = exc, time.monotonic()
                raise

    def _lookup(self, task_name: str, version: str | None, project: str | None, domain: str | None) -> Task:
        client = self.get_client()
        if version in (None, "", "latest"):
            scope = (project or "", domain or "")
            listing = self.versions.get(scope)
            if listing is None:
                log.info("listing the deployed Flyte tasks once for this definitions load")
                listing = self.versions[scope] = {
                    t.name: t.version for t in client.list_tasks(project=project, domain=domain, limit=1000)
                }
            version = listing.get(task_name)  # None: not listed (a large project): look it up by name
        task: Task = client.get_task(task_name, version, project=project, domain=domain)
        return task

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # best effort at exit
                log.debug("closing the lookup client failed: %s", exc)


_BATCHES: dict[str, _Batch] = {}
_BATCHES_LOCK = threading.Lock()


def _batch_for(resource: FlyteResource) -> _Batch:
    from flyte_remote_core.orchestration import settings_key

    key = f"{os.getpid()}:{settings_key(resource._settings())}"
    with _BATCHES_LOCK:
        batch = _BATCHES.get(key)
        if batch is None:
            batch = _BATCHES[key] = _Batch(resource)
        return batch


@atexit.register
def _close_batches() -> None:
    for batch in list(_BATCHES.values()):
        batch.close()
    _BATCHES.clear()


def interface_key(
    resource: FlyteResource | None,
    task_name: str,
    *,
    version: str | None = None,
    project: str | None = None,
    domain: str | None = None,
) -> str:
    """Where a task's interface is kept (cache, snapshot and reconstruction metadata)."""
    from ._resource import FlyteResource

    res = resource if resource is not None else FlyteResource()
    default_project, default_domain = res.scope()
    return (
        f"flyte_dagster/task/{project or default_project}/{domain or default_domain}/{task_name}@{version or 'latest'}"
    )


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
    key = interface_key(res, task_name, version=version, project=project, domain=domain)
    snapshot = read_snapshot()
    if key in snapshot:
        _CACHE.setdefault(key, snapshot[key])

    def fetch() -> str:
        from flyte_remote_core import FlyteError, NotFoundError

        log.info("looking up the interface of Flyte task %s (once per definitions load)", task_name)
        try:
            task = _batch_for(res).lookup(task_name, version, project, domain)
            return FlyteTaskInterface.from_task(task).to_json()
        except NotFoundError as exc:
            raise dg.DagsterInvalidDefinitionError(
                f"Flyte task {task_name!r} (version {version or 'latest'}) was not found: {exc}"
            ) from None
        except FlyteError as exc:
            raise BackendUnavailable(
                f"could not look up the interface of Flyte task {task_name!r}: {exc}. Declare it in code "
                "(FlyteTaskInterface.declare), use interface='lazy', or a snapshot "
                f"({SNAPSHOT_ENV}) to build definitions without calling the backend."
            ) from exc

    return FlyteTaskInterface.from_json(load_once(key, fetch))


class BackendUnavailable(dg.DagsterInvalidDefinitionError):
    """The interface could not be looked up: no backend configured, or it did not answer."""


def lazy_interface(
    task_name: str, input_names: Sequence[str], output_names: Sequence[str] = ("o0",)
) -> FlyteTaskInterface:
    """An interface built from the names given in code only; checked against the task at run time."""
    return FlyteTaskInterface(
        task_name=task_name,
        inputs=tuple(FlyteInputSpec(n, "any", False) for n in input_names),
        outputs=tuple(FlyteOutputSpec(n) for n in output_names),
        lazy=True,
    )


def check_lazy_inputs(task: Any, given: Sequence[str]) -> str | None:
    """What is wrong with the input names ``given`` to ``task`` (a fetched Task), or None."""
    known = [i.name for i in task.inputs]
    unknown = [n for n in given if n not in known]
    if unknown:
        return f"Flyte task {task.name!r} has no input(s) {unknown}; its inputs are {known}"
    missing = [i.name for i in task.inputs if i.required and i.name not in given]
    if missing:
        return f"Flyte task {task.name!r}: required input(s) {missing} are not given through ins, inputs or config"
    return None


def clear_interface_cache() -> None:
    """Forget cached interfaces and listings (the next definitions load looks them up again)."""
    _CACHE.clear()
    _SNAPSHOT.clear()
    _close_batches()


def resolve_interface(
    task_name: str,
    interface: FlyteTaskInterface | Mapping[str, Any] | str | None,
    *,
    resource: FlyteResource | None = None,
    version: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    output_types: Mapping[str, Any] | None = None,
    given_inputs: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> FlyteTaskInterface:
    """The interface to build definitions from: declared (no remote call), from the snapshot, or
    looked up once; lazy (``"lazy"``, or no backend reachable) when ``given_inputs`` says what the
    code feeds the task."""
    lazy_ok = given_inputs is not None
    if interface == "lazy":
        if not lazy_ok:
            raise dg.DagsterInvalidDefinitionError(f"Flyte task {task_name!r}: interface='lazy' is for assets")
        iface = lazy_interface(task_name, list(given_inputs or ()), list(output_names or ("o0",)))
    elif interface is None:
        try:
            iface = fetch_task_interface(resource, task_name, version=version, project=project, domain=domain)
        except BackendUnavailable as exc:
            if not lazy_ok:
                raise
            log.warning("%s; building the asset lazily (its interface is checked when it runs)", exc)
            iface = lazy_interface(task_name, list(given_inputs or ()), list(output_names or ("o0",)))
    elif isinstance(interface, FlyteTaskInterface):
        iface = interface
    elif isinstance(interface, Mapping):
        iface = FlyteTaskInterface.declare(
            task_name,
            inputs=interface.get("inputs", ()),
            outputs=interface.get("outputs", ("o0",)),
            optional_inputs=interface.get("optional_inputs", ()),
        )
    else:
        raise dg.DagsterInvalidDefinitionError(
            f"Flyte task {task_name!r}: interface must be a FlyteTaskInterface or a mapping, "
            f"got {type(interface).__name__}"
        )
    if iface.task_name != task_name:
        iface = FlyteTaskInterface(
            task_name, iface.inputs, iface.outputs, iface.version, iface.project, iface.domain, iface.description
        )
    if iface.lazy and output_types:
        unknown = set(output_types) - set(iface.output_names)
        if unknown:  # the lazy outputs are the code's guess: take the names output_types gives
            iface = lazy_interface(task_name, iface.input_names, sorted({*iface.output_names, *unknown}))
    return iface.with_output_types(output_types)
