"""The Python-function task registry: plain functions of ``--tasks`` modules as tasks.

A task is any public top-level function of a module: no decorator is needed, so the
same module can be imported by code that knows nothing about Flyte. The optional
:func:`~.options.task_options` decorator only sets an attribute (no wrapper), so the
function stays a plain function everywhere else.

Each task gets a :class:`flyteidl2.task.task_definition_pb2.TaskSpec` shaped like the
ones the official SDK deploys (type ``python``, ``a0 ...`` container args with the
``DefaultTaskResolver`` and ``mod M instance T``), so the rest of the devserver can
treat local and real task specs alike; :func:`entry_point_of` reads those args back.
:class:`TaskRegistry` holds what was registered, by name and version.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flyteidl2.core import identifier_pb2, literals_pb2, tasks_pb2
from flyteidl2.task import task_definition_pb2

from .options import options_of

__all__ = [
    "ENVIRONMENT_NAME",
    "LocalTask",
    "TaskDefinitionError",
    "TaskRegistry",
    "container_args",
    "discover_tasks",
    "entry_point_of",
    "task_from_function",
    "task_name_for",
]

ENVIRONMENT_NAME = "devserver"
RESOLVER = "flyte._internal.resolvers.default.DefaultTaskResolver"
IMAGE = "devserver-local"  # informative only: the devserver runs tasks in local worker processes


class TaskDefinitionError(TypeError):
    """A function cannot be a task (unsupported type hint, missing hint, duplicate name...)."""


@dataclass
class LocalTask:
    name: str  # "<last module component>.<function>"
    version: str
    module: str
    function: str
    retries: int
    timeout: float | None
    spec: task_definition_pb2.TaskSpec
    func: Callable[..., Any] | None = None

    @property
    def task_id(self) -> tuple[str, str]:
        return self.name, self.version


def task_name_for(module: str, function: str) -> str:
    return f"{module.rsplit('.', 1)[-1]}.{function}"


def container_args(*, module: str, function: str, version: str) -> list[str]:
    """The argument list the official SDK deploys for a task (REFERENCE.md section 6).

    The ``{{.x}}`` placeholders are what the backend substitutes per action.
    """
    return [
        "a0",
        "--inputs", "{{.input}}",
        "--outputs-path", "{{.outputPrefix}}",
        "--version", version,
        "--raw-data-path", "{{.rawOutputDataPrefix}}",
        "--checkpoint-path", "{{.checkpointOutputPrefix}}",
        "--prev-checkpoint", "{{.prevCheckpointPrefix}}",
        "--run-name", "{{.runName}}",
        "--name", "{{.actionName}}",
        "--resolver", RESOLVER,
        "mod", module,
        "instance", function,
    ]  # fmt: skip


def entry_point_of(args: Iterable[str]) -> tuple[str, str] | None:
    """``(module, function)`` from a task's container args (``... mod M instance T``), if present."""
    found = list(args)
    if "mod" not in found or "instance" not in found:
        return None
    try:
        return found[found.index("mod") + 1], found[found.index("instance") + 1]
    except IndexError:
        return None


def _source_of(func: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        # No source file (e.g. defined in a REPL): the bytecode is the next best identity.
        code = func.__code__
        return repr((code.co_code, code.co_consts, code.co_names))


def _version(func: Callable[..., Any], extra: bytes) -> str:
    # sha256 of the source plus the serialized interface: a dataclass used in the
    # signature can change the interface without touching the function's own source.
    h = hashlib.sha256()
    h.update(_source_of(func).encode())
    h.update(b"\0")
    h.update(extra)
    return h.hexdigest()[:16]


def _check_hints(func: Callable[..., Any], where: str) -> dict[str, Any]:
    """Resolve hints and try each one alone, so an error names the offending parameter."""
    from flyte_remote_core.codec import literal_type_for, output_types_for

    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as e:  # NameError for an unresolvable forward reference, etc.
        raise TaskDefinitionError(f"{where}: cannot resolve type hints: {e}") from e
    sig = inspect.signature(func)
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TaskDefinitionError(f"{where}: parameter {pname!r}: *args/**kwargs cannot be task inputs")
        if param.kind is param.POSITIONAL_ONLY:
            raise TaskDefinitionError(f"{where}: parameter {pname!r}: positional-only parameters are not supported")
        if pname not in hints:
            raise TaskDefinitionError(f"{where}: parameter {pname!r} has no type hint")
        try:
            literal_type_for(hints[pname])
        except (TypeError, ValueError) as e:
            raise TaskDefinitionError(
                f"{where}: parameter {pname!r} has type {_hint_str(hints[pname])}, which tasks cannot take: {e}"
            ) from e
    try:
        outputs = output_types_for(func)
    except (TypeError, ValueError) as e:
        raise TaskDefinitionError(f"{where}: return type {_hint_str(hints.get('return'))}: {e}") from e
    for oname, hint in outputs.items():
        try:
            literal_type_for(hint)
        except (TypeError, ValueError) as e:
            raise TaskDefinitionError(
                f"{where}: output {oname!r} has type {_hint_str(hint)}, which tasks cannot return: {e}"
            ) from e
    return hints


def _hint_str(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def task_from_function(func: Callable[..., Any], *, module: str | None = None) -> LocalTask:
    """Build the :class:`LocalTask` for one function (see :func:`discover_tasks`)."""
    from flyte_remote_core.codec import typed_interface_for

    if not inspect.isfunction(func):
        raise TaskDefinitionError(f"{func!r} is not a plain function")
    module = module or func.__module__
    fname = func.__name__
    where = f"{module}.{fname}"
    _check_hints(func, where)
    try:
        interface, defaults = typed_interface_for(func)
    except (TypeError, ValueError) as e:
        raise TaskDefinitionError(f"{where}: {e}") from e

    opts = options_of(func)
    extra = interface.SerializeToString(deterministic=True) + repr((opts.retries, opts.timeout)).encode()
    version = _version(func, extra)
    name = task_name_for(module, fname)

    metadata = tasks_pb2.TaskMetadata(
        runtime=tasks_pb2.RuntimeMetadata(type=tasks_pb2.RuntimeMetadata.OTHER, version="0.1.0", flavor="devserver"),
        retries=literals_pb2.RetryStrategy(retries=opts.retries),
        discoverable=False,
    )
    if opts.timeout is not None:
        metadata.timeout.FromTimedelta(_dt.timedelta(seconds=opts.timeout))
    doc = inspect.getdoc(func)
    if doc:
        metadata.tags["description"] = doc.splitlines()[0][:255]

    template = tasks_pb2.TaskTemplate(
        # project/domain are filled by whoever registers the spec; name and version are ours.
        id=identifier_pb2.Identifier(resource_type=identifier_pb2.TASK, name=name, version=version),
        type="python",
        metadata=metadata,
        interface=interface,
        container=tasks_pb2.Container(image=IMAGE, args=container_args(module=module, function=fname, version=version)),
    )
    spec = task_definition_pb2.TaskSpec(task_template=template, short_name=fname)
    spec.default_inputs.extend(defaults)
    spec.environment.name = ENVIRONMENT_NAME
    return LocalTask(
        name=name,
        version=version,
        module=module,
        function=fname,
        retries=opts.retries,
        timeout=opts.timeout,
        spec=spec,
        func=func,
    )


def _public_functions(mod: ModuleType) -> list[Callable[..., Any]]:
    found: list[Callable[..., Any]] = []
    for attr, obj in vars(mod).items():  # definition order
        if attr.startswith("_") or not inspect.isfunction(obj):
            continue
        # Imported functions keep their home module; aliases (b = a) and lambdas have a
        # __name__ different from the attribute they are bound to.
        if obj.__module__ != mod.__name__ or obj.__name__ != attr:
            continue
        found.append(obj)
    return found


def discover_tasks(modules: Iterable[str | ModuleType]) -> list[LocalTask]:
    """Every public top-level function defined in each module, as a task.

    Raises :class:`TaskDefinitionError` naming ``module.function`` and the parameter
    for a signature the codec cannot express, and for two tasks with the same name
    (``a.tasks.f`` and ``b.tasks.f`` both map to ``tasks.f``).
    """
    tasks: list[LocalTask] = []
    seen: dict[str, str] = {}
    for m in modules:
        mod = importlib.import_module(m) if isinstance(m, str) else m
        for func in _public_functions(mod):
            task = task_from_function(func, module=mod.__name__)
            other = seen.get(task.name)
            if other is not None and other != mod.__name__:
                raise TaskDefinitionError(
                    f"task name {task.name!r} is defined by both {other}.{func.__name__}"
                    f" and {mod.__name__}.{func.__name__}"
                )
            if other is None:
                seen[task.name] = mod.__name__
                tasks.append(task)
    return tasks


class TaskRegistry:
    """The tasks registered with the devserver, by ``(name, version)`` and by name alone."""

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, str | None], LocalTask] = {}
        self.tasks: list[LocalTask] = []

    def load(self, items: Iterable[Any]) -> list[LocalTask]:
        """Register module names, modules and plain functions; returns the tasks they gave."""
        found: list[LocalTask] = []
        for item in items:
            if isinstance(item, (str, ModuleType)):
                found.extend(discover_tasks([item]))
            elif callable(item):
                found.append(task_from_function(item))
            else:
                raise TypeError(f"tasks: expected module names, modules or functions, got {item!r}")
        for task in found:
            self._by_id[(task.name, task.version)] = task
            self._by_id[(task.name, None)] = task  # the latest registered under that name
        self.tasks = found
        return found

    def get(self, name: str, version: str) -> LocalTask | None:
        """The task of that exact version, else the one registered last under that name."""
        return self._by_id.get((name, version)) or self._by_id.get((name, None))
