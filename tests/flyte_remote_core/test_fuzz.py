"""Property-based fuzzing of the public API: inputs, run names and run options.

Whatever a careless or hostile caller passes, the client answers with a typed
``FlyteInputError`` that names what was wrong, and sends nothing (asserted with the
devserver's call counters). Well over 1,000 cases run in all.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flyte_remote_core import (
    FlyteInputError,
    InvalidInputError,
    InvalidRunNameError,
    InvalidRunOptionError,
    check_run_name,
    deterministic_run_name,
)

TASKS = [
    "add",
    "greet",
    "negate",
    "scale",
    "move_point",
    "summarize",
    "sum_list",
    "total_values",
    "maybe_double",
    "add_days",
    "elapsed",
    "order_total",
]
SENT = ("GetTaskDetails", "ListTasks", "SelectCluster", "UploadInputs", "CreateRun", "GetRunDetails")

# Text with every kind of code point, lone surrogates included.
texts = st.text(alphabet=st.characters(codec=None, categories=None), max_size=30) | st.sampled_from(
    [
        "",
        "3",
        "1.5",
        "true",
        "null",
        "None",
        "[1, 2]",
        '{"a": 1}',
        "2024-01-01T00:00:00",
        "1 day, 0:00:01",
        "\ud800",
        "a\udfffb",
        "\x00",
        "9" * 400,
    ]
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts | st.binary(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts, inner, max_size=4)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=12,
)
input_maps = st.dictionaries(
    st.sampled_from(
        [
            "x",
            "y",
            "name",
            "greeting",
            "flag",
            "value",
            "factor",
            "p",
            "dx",
            "values",
            "names",
            "xs",
            "d",
            "when",
            "delta",
            "start",
            "end",
            "order",
            "zzz",
            "",
        ]
    ),
    values,
    max_size=5,
)


def _deep(n: int) -> list:
    root: list = []
    cur = root
    for _ in range(n):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path_factory.mktemp("fuzz")) as server:
        client = server.client()
        yield server, client
        client.close()


@pytest.fixture(scope="module")
def tasks(server):
    _, client = server
    return {name: client.get_task(f"sample_tasks.{name}") for name in TASKS}


FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@FUZZ
@given(task=st.sampled_from(TASKS), inputs=input_maps)
def test_any_inputs_give_a_value_or_an_error_naming_an_input(tasks, task, inputs) -> None:
    try:
        tasks[task].to_inputs(inputs)
    except InvalidInputError as err:
        names = [e.input_name for e in getattr(err, "errors", [err])]
        assert all(isinstance(n, str) for n in names)
        # The message quotes the input's path (repr quoting: '...' or "..." when it holds a ').
        assert all(n in str(err) or repr(n) in str(err) for n in names), str(err)
        assert all(n.split("[")[0].split(".")[0] in set(inputs) | {v.name for v in tasks[task].inputs} for n in names)


@pytest.mark.parametrize("depth", [200, 5_000])
def test_deeply_nested_values_name_the_input(tasks, depth) -> None:
    with pytest.raises(InvalidInputError) as err:
        tasks["sum_list"].to_inputs({"xs": _deep(depth)})
    assert err.value.input_name.startswith("xs")


@FUZZ
@given(
    name=st.text(max_size=40)
    | st.from_regex(r"[a-z][-a-z0-9]{0,28}[a-z0-9]", fullmatch=True)
    | st.from_regex(r"[a-z][-a-z0-9]{0,28}[a-z0-9]\n", fullmatch=True)
)
def test_run_names_are_accepted_only_when_the_backend_would(name) -> None:
    ok = (
        0 < len(name) <= 30
        and name[0] in string.ascii_lowercase
        and name[-1] != "-"
        and all(c in string.ascii_lowercase + string.digits + "-" for c in name)
    )
    if ok:
        assert check_run_name(name) == name
    else:
        with pytest.raises(InvalidRunNameError) as err:
            check_run_name(name)
        assert repr(name) in str(err.value)


@FUZZ
@given(key=st.text(max_size=50), attempt=st.integers(min_value=1, max_value=10**6), prefix=st.text(max_size=20))
def test_deterministic_names_are_always_valid_and_stable(key, attempt, prefix) -> None:
    name = deterministic_run_name(key, attempt, prefix=prefix)
    assert check_run_name(name) == name
    assert deterministic_run_name(key, attempt, prefix=prefix) == name


option_values = values | st.dictionaries(texts, texts, max_size=3)


@FUZZ
@given(
    options=st.dictionaries(
        st.sampled_from(["labels", "annotations", "envs", "queue", "interruptible", "overwrite_cache"]),
        option_values,
        max_size=3,
    )
)
def test_run_options_are_checked_before_anything_is_sent(server, tasks, options) -> None:
    server, client = server
    before = {m: server.admin.call_count(m) for m in SENT}
    with pytest.raises(FlyteInputError) as err:
        # Valid options still fail, at the (deliberately missing) inputs, before any call.
        client.run(tasks["add"], {}, **options)
    if isinstance(err.value, InvalidRunOptionError):
        assert err.value.option in options and repr(err.value.option) in str(err.value)
    else:
        assert isinstance(err.value, InvalidInputError)
    assert {m: server.admin.call_count(m) for m in SENT} == before
