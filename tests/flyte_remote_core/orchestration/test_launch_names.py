"""Run names: the backend's DNS-1035 rule, and deterministic names for idempotent launches."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flyte_remote_core import InvalidRunNameError, check_run_name, deterministic_run_name

RULE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("name", ["a", "r1", "my-run-2", "x" * 30])
def test_valid_names_pass(name: str) -> None:
    assert check_run_name(name) == name


@pytest.mark.parametrize(
    "name, reason",
    [
        ("", "empty"),
        ("1abc", "shape"),
        ("Abc", "shape"),
        ("abc-", "shape"),
        ("a_b", "shape"),
        ("x" * 31, "31 characters"),
    ],
)
def test_invalid_names_raise_naming_the_problem(name: str, reason: str) -> None:
    with pytest.raises(InvalidRunNameError) as err:
        check_run_name(name)
    assert reason in str(err.value)
    assert err.value.name == name
    assert isinstance(err.value, ValueError)


@given(key=st.text(), attempt=st.integers(min_value=1, max_value=10_000), prefix=st.text(max_size=40))
def test_deterministic_names_always_fit_the_rule(key: str, attempt: int, prefix: str) -> None:
    name = deterministic_run_name(key, attempt, prefix=prefix)
    assert len(name) <= 30
    assert RULE.match(name), name
    assert name.endswith(f"-{attempt}")
    assert name == deterministic_run_name(key, attempt, prefix=prefix)


def test_names_differ_by_key_and_attempt() -> None:
    a1 = deterministic_run_name("dag/task/run1/-1", 1, prefix="af")
    assert a1.startswith("af-")
    assert a1 != deterministic_run_name("dag/task/run2/-1", 1, prefix="af")
    assert a1 != deterministic_run_name("dag/task/run1/-1", 2, prefix="af")
    assert a1 != deterministic_run_name("dag/task/run1/0", 1, prefix="af")


def test_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError):
        deterministic_run_name("k", 0)
