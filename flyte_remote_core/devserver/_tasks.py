"""Turn plain Python functions into devserver tasks.

A task is any public top-level function of a module: no decorator is needed, so the
same module can be imported by code that knows nothing about Flyte. The optional
:func:`task_options` decorator only sets an attribute (no wrapper), so the function
stays a plain function everywhere else.

Each task gets a :class:`flyteidl2.task.task_definition_pb2.TaskSpec` shaped like the
ones the official SDK deploys (type ``python``, ``a0 ...`` container args with the
``DefaultTaskResolver`` and ``mod M instance T``), so the rest of the devserver can
treat local and real task specs alike.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import inspect
import typing
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterable, TypeVar

from flyteidl2.core import identifier_pb2, literals_pb2, tasks_pb2
from flyteidl2.task import task_definition_pb2

__all__ = [
    "ENVIRONMENT_NAME",
    "LocalTask",
    "TaskDefinitionError",
    "TaskOptions",
    "container_args",
    "discover_tasks",
    "task_from_function",
    "task_name_for",
    "task_options",
]

ENVIRONMENT_NAME = "devserver"
RESOLVER = "flyte._internal.resolvers.default.DefaultTaskResolver"
IMAGE = "devserver-local"  # informative only: the devserver runs tasks in local worker processes
_OPTIONS_ATTR = "__devserver_task_options__"

F = TypeVar("F", bound=Callable[..., Any])


class TaskDefinitionError(TypeError):
    """A function cannot be a task (unsupported type hint, missing hint, duplicate name...)."""


@dataclass(frozen=True)
class TaskOptions:
    retries: int = 0
    timeout: float | None = None  # seconds


def task_options(*, retries: int = 0, timeout: float | _dt.timedelta | None = None) -> Callable[[F], F]:
    """Set retries and a timeout (seconds or timedelta) on a plain function.

    Returns the function itself (no wrapper), so signatures, pickling and direct calls
    are unaffected.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    seconds: float | None
    if timeout is None:
        seconds = None
    elif isinstance(timeout, _dt.timedelta):
        seconds = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise ValueError(f"timeout must be seconds or a timedelta, got {timeout!r}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    opts = TaskOptions(retries=retries, timeout=seconds)

    def apply(func: F) -> F:
        setattr(func, _OPTIONS_ATTR, opts)
        return func

    return apply


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

    opts: TaskOptions = getattr(func, _OPTIONS_ATTR, None) or TaskOptions()
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
        container=tasks_pb2.Container(
            image=IMAGE, args=container_args(module=module, function=fname, version=version)
        ),
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
    found = []
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
                    f"task name {task.name!r} is defined by both {other}.{func.__name__} and {mod.__name__}.{func.__name__}"
                )
            if other is None:
                seen[task.name] = mod.__name__
                tasks.append(task)
    return tasks
