"""Discovery of plain functions as devserver tasks (names, versions, specs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flyteidl2.core import types_pb2

from flyte_remote_core.devserver.execution.options import task_options
from flyte_remote_core.devserver.execution.registry import (
    TaskDefinitionError,
    discover_tasks,
    task_from_function,
)
from tests.devserver import sample_tasks

pytestmark = pytest.mark.timeout(60)


HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]  # the repository root: workers import tests.devserver.sample_tasks from it
MODULE = sample_tasks.__name__


def _write_pkg(root: Path, pkg: str, files: dict[str, str]) -> None:
    d = root / pkg
    d.mkdir(parents=True, exist_ok=True)
    (d / "__init__.py").write_text("")
    for name, src in files.items():
        (d / f"{name}.py").write_text(textwrap.dedent(src))


@pytest.fixture
def tmp_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        sys.modules.pop(name, None)


def _by_name(tasks):
    return {t.name: t for t in tasks}


def test_discovery_names_and_filtering() -> None:
    tasks = _by_name(discover_tasks([sample_tasks]))
    assert "sample_tasks.add" in tasks
    assert "sample_tasks.async_add" in tasks
    assert "sample_tasks.chatty" in tasks
    # private helpers, classes and imported functions are not tasks
    for name in ("_private_helper", "Point", "Order", "task_options", "dataclass", "field", "Optional"):
        assert f"sample_tasks.{name}" not in tasks
    add = tasks["sample_tasks.add"]
    assert (add.module, add.function) == (MODULE, "add")
    # a module name works as well as a module object, and order follows definition
    names = [t.name for t in discover_tasks([MODULE])]
    assert names == list(tasks)
    assert names.index("sample_tasks.add") < names.index("sample_tasks.greet")


def test_name_uses_last_module_component(tmp_modules: Path) -> None:
    _write_pkg(
        tmp_modules,
        "examples_x",
        {
            "tasks": """
                from os.path import join  # imported: not a task

                def add(x: int, y: int) -> int:
                    return x + y

                alias = add  # an alias is not a second task
                shout = lambda s: s.upper()  # noqa: E731  (a lambda is not a task)

                def _hidden() -> None: ...
            """
        },
    )
    tasks = discover_tasks(["examples_x.tasks"])
    assert [t.name for t in tasks] == ["tasks.add"]
    t = tasks[0]
    assert (t.module, t.function) == ("examples_x.tasks", "add")
    args = list(t.spec.task_template.container.args)
    assert args[-4:] == ["mod", "examples_x.tasks", "instance", "add"]


def test_duplicate_task_names_are_refused(tmp_modules: Path) -> None:
    src = {"tasks": "def f(x: int) -> int:\n    return x\n"}
    _write_pkg(tmp_modules, "pkg_a", src)
    _write_pkg(tmp_modules, "pkg_b", src)
    with pytest.raises(TaskDefinitionError, match=r"tasks\.f.*pkg_a\.tasks\.f.*pkg_b\.tasks\.f"):
        discover_tasks(["pkg_a.tasks", "pkg_b.tasks"])
    # the same module twice is not a conflict
    assert len(discover_tasks(["pkg_a.tasks", "pkg_a.tasks"])) == 1


def test_unsupported_hint_names_function_and_parameter(tmp_modules: Path) -> None:
    _write_pkg(
        tmp_modules,
        "badmods",
        {
            "hints": """
                class Opaque:
                    pass

                def ok(x: int) -> int:
                    return x

                def bad(x: int, thing: Opaque) -> int:
                    return x
            """,
            "nohint": """
                def f(x: int, y) -> int:
                    return x
            """,
            "badret": """
                class Opaque:
                    pass

                def g(x: int) -> Opaque:
                    return Opaque()
            """,
        },
    )
    with pytest.raises(TaskDefinitionError) as info:
        discover_tasks(["badmods.hints"])
    msg = str(info.value)
    assert "badmods.hints.bad" in msg and "'thing'" in msg and "Opaque" in msg
    with pytest.raises(TaskDefinitionError, match=r"badmods\.nohint\.f.*'y'.*no type hint"):
        discover_tasks(["badmods.nohint"])
    with pytest.raises(TaskDefinitionError, match=r"badmods\.badret\.g.*o0"):
        discover_tasks(["badmods.badret"])


def test_version_is_stable_across_processes() -> None:
    here = task_from_function(sample_tasks.add).version
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.devserver import sample_tasks; "
        "from flyte_remote_core.devserver.execution.registry import task_from_function; "
        "print(task_from_function(sample_tasks.add).version)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == here
    assert len(here) == 16 and int(here, 16) >= 0


def test_version_changes_with_source(tmp_modules: Path) -> None:
    body = "def f(x: int) -> int:\n    return x + {n}\n"
    _write_pkg(tmp_modules, "vers", {"m1": body.format(n=1), "m2": body.format(n=1), "m3": body.format(n=2)})
    v1, v2, v3 = (discover_tasks([f"vers.m{i}"])[0].version for i in (1, 2, 3))
    assert v1 == v2  # same source, same version
    assert v1 != v3
    # options are part of the identity too
    opts = "from flyte_remote_core.devserver import task_options\n@task_options(retries=1)\n"
    _write_pkg(tmp_modules, "vers", {"m4": opts + body.format(n=1)})
    assert discover_tasks(["vers.m4"])[0].version != v1


def test_interface_shapes() -> None:
    tasks = _by_name(discover_tasks([sample_tasks]))
    LT = types_pb2.SimpleType

    def inputs(name: str) -> list[tuple[str, types_pb2.LiteralType]]:
        return [(v.key, v.value.type) for v in tasks[name].spec.task_template.interface.inputs.variables]

    def outputs(name: str) -> list[tuple[str, types_pb2.LiteralType]]:
        return [(v.key, v.value.type) for v in tasks[name].spec.task_template.interface.outputs.variables]

    assert [(k, t.simple) for k, t in inputs("sample_tasks.add")] == [("x", LT.INTEGER), ("y", LT.INTEGER)]
    assert [(k, t.simple) for k, t in outputs("sample_tasks.add")] == [("o0", LT.INTEGER)]
    assert outputs("sample_tasks.noop") == []
    assert [k for k, _ in outputs("sample_tasks.split_name")] == ["o0", "o1"]
    assert [t.simple for _, t in outputs("sample_tasks.split_name")] == [LT.INTEGER, LT.STRING]
    assert inputs("sample_tasks.sum_list")[0][1].collection_type.simple == LT.INTEGER
    assert inputs("sample_tasks.total_values")[0][1].map_value_type.simple == LT.INTEGER
    assert inputs("sample_tasks.maybe_double")[0][1].HasField("union_type")
    assert outputs("sample_tasks.make_point")[0][1].simple == LT.STRUCT
    assert inputs("sample_tasks.order_total")[0][1].simple == LT.STRUCT
    assert [t.simple for _, t in inputs("sample_tasks.add_days")] == [LT.DATETIME, LT.DURATION]

    greet = tasks["sample_tasks.greet"].spec
    assert [p.name for p in greet.default_inputs] == ["greeting"]
    assert greet.default_inputs[0].parameter.default.scalar.primitive.string_value == "Hello"
    assert greet.short_name == "greet"
    assert greet.environment.name == "devserver"


def test_spec_shape() -> None:
    t = task_from_function(sample_tasks.add)
    tt = t.spec.task_template
    assert tt.type == "python"
    assert (tt.id.name, tt.id.version) == ("sample_tasks.add", t.version)
    args = list(tt.container.args)
    assert args[0] == "a0"
    assert args[args.index("--inputs") + 1] == "{{.input}}"
    assert args[args.index("--outputs-path") + 1] == "{{.outputPrefix}}"
    assert args[args.index("--version") + 1] == t.version
    assert args[args.index("--resolver") + 1] == "flyte._internal.resolvers.default.DefaultTaskResolver"
    assert args[-4:] == ["mod", MODULE, "instance", "add"]
    assert tt.metadata.retries.retries == 0 and not tt.metadata.HasField("timeout")

    flaky = task_from_function(sample_tasks.flaky)
    assert flaky.retries == 2 and flaky.spec.task_template.metadata.retries.retries == 2
    slow = task_from_function(sample_tasks.slow_with_timeout)
    assert slow.timeout == 1.0
    assert slow.spec.task_template.metadata.timeout.ToTimedelta().total_seconds() == 1.0


def test_task_options_sets_attribute_only() -> None:
    def f(x: int) -> int:
        return x

    g = task_options(retries=3, timeout=2.5)(f)
    assert g is f and f(4) == 4
    t = task_from_function(f)
    assert (t.retries, t.timeout) == (3, 2.5)
    import datetime

    task_options(timeout=datetime.timedelta(minutes=1))(f)
    assert task_from_function(f).timeout == 60.0
    for bad in ({"retries": -1}, {"retries": 1.5}, {"timeout": 0}, {"timeout": "10"}):
        with pytest.raises(ValueError):
            task_options(**bad)  # type: ignore[arg-type]
