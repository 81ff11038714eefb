"""A run with nested actions, made by real Flyte 2 code (the official SDK), on its run page.

``sdkt.fan_out`` (tests/devserver/sdk/project/wf.py) awaits two ``sdkt.sleeper`` children:
the page's action tree shows the parent and both children under it with their phases, the
timeline one bar per action (the children's inside the parent's), and ``?i=<child>`` selects
a child: its inputs, outputs and logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow import run_service_pb2_grpc as run_grpc
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.sdk_support import requires_sdk

from .browser import open_page

pytestmark = [requires_sdk, pytest.mark.timeout(300)]

SLEEP = 1  # each child sleeps this long and returns it; the parent returns the sum


@dataclass
class NestedRun:
    name: str
    url: str
    children: list[str]  # the child actions' names, as ListActions returns them
    client: Any


@pytest.fixture(scope="module")
def nested(sdk_deployed: Any) -> Iterator[NestedRun]:
    client = sdk_deployed.client()
    try:
        run = client.run("sdkt.fan_out", {"n": 2, "seconds": SLEEP}).wait(quiet=True)
        assert run.phase.value == "SUCCEEDED"
        with grpc.insecure_channel(sdk_deployed.endpoint) as channel:
            rid = identifier_pb2.RunIdentifier(project=run.project, domain=run.domain, name=run.name)
            actions = run_grpc.RunServiceStub(channel).ListActions(rs.ListActionsRequest(run_id=rid)).actions
        children = [a.id.name for a in actions if a.id.name != "a0"]
        assert len(children) == 2 and all(a.metadata.parent == "a0" for a in actions if a.id.name != "a0")
        assert all(a.status.phase == phase_pb2.ACTION_PHASE_SUCCEEDED for a in actions)
        yield NestedRun(run.name, run.url, children, client)
    finally:
        client.close()


def _rows(browser: Chrome) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, "table.timeline tr.action")


def _indent(row: WebElement) -> float:
    return float(row.find_element(By.CSS_SELECTOR, "td.name").value_of_css_property("padding-left").removesuffix("px"))


def test_the_tree_shows_the_parent_then_its_children_with_their_phases(nested: NestedRun, browser: Chrome) -> None:
    open_page(browser, nested.url)
    assert browser.find_element(By.ID, "run-name").text == nested.name
    assert browser.find_element(By.ID, "run-summary").get_attribute("data-phase") == "SUCCEEDED"
    rows = _rows(browser)
    assert [r.get_attribute("data-action") for r in rows] == ["a0", *nested.children]
    parent, *children = rows
    assert parent.find_element(By.CSS_SELECTOR, ".task").text == "sdkt.fan_out"
    assert parent.find_element(By.CSS_SELECTOR, ".phase").text == "SUCCEEDED"
    for row, name in zip(children, nested.children, strict=True):
        assert row.find_element(By.CSS_SELECTOR, "td.name a").text == name
        assert row.find_element(By.CSS_SELECTOR, ".task").text == "sdkt.sleeper"
        assert row.find_element(By.CSS_SELECTOR, ".phase").text == "SUCCEEDED"
        assert _indent(row) > _indent(parent)  # drawn under the parent, not beside it
        assert row.find_element(By.CSS_SELECTOR, ".duration").text.endswith(" s")
    # The root is selected by default: the run's own outputs (the children's sum).
    assert browser.find_element(By.ID, "selected-action").get_attribute("data-action") == "a0"
    assert browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text.split() == ["o0", str(2 * SLEEP)]


def test_the_timeline_has_one_bar_per_action_children_inside_the_parent(nested: NestedRun, browser: Chrome) -> None:
    open_page(browser, nested.url)
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.timeline .bar")) == 1 + len(nested.children)
    bars = {
        str(r.get_attribute("data-action")): r.find_element(By.CSS_SELECTOR, "td.track .bar").rect
        for r in _rows(browser)
    }
    parent = bars.pop("a0")
    assert parent["width"] > 0
    for name, bar in bars.items():
        assert bar["width"] > 0, name
        # Children start after and end before their parent (a pixel of rounding allowed).
        assert bar["x"] >= parent["x"] - 1, (name, bar, parent)
        assert bar["x"] + bar["width"] <= parent["x"] + parent["width"] + 1, (name, bar, parent)
        assert bar["x"] > parent["x"] + 1, (name, bar, parent)  # the parent ran a while before it fanned out
    track = browser.find_element(By.CSS_SELECTOR, "table.timeline tr.action[data-action='a0'] td.track").rect
    assert parent["x"] - track["x"] < 2  # the root opens the run's time axis


def test_the_action_url_selects_a_child_and_shows_its_data_and_logs(nested: NestedRun, browser: Chrome) -> None:
    child = nested.children[1]
    url = nested.client.run_url(nested.name, action=child)  # what the client prints for an action
    assert url == f"{nested.url}?i={child}"
    open_page(browser, url)
    selected = browser.find_element(By.ID, "selected-action")
    assert selected.get_attribute("data-action") == child
    assert selected.find_element(By.CSS_SELECTOR, "h2").text == f"Action {child} SUCCEEDED"
    assert "task sdkt.sleeper" in selected.find_element(By.CSS_SELECTOR, ".meta").text
    assert selected.find_element(By.CSS_SELECTOR, "table.values.inputs").text.split() == ["seconds", str(SLEEP)]
    assert selected.find_element(By.CSS_SELECTOR, "table.values.outputs").text.split() == ["o0", str(SLEEP)]
    # Its tree row is the highlighted one.
    assert [r.get_attribute("data-action") for r in browser.find_elements(By.CSS_SELECTOR, "tr.action.selected")] == [
        child
    ]
    # Its logs are open, the others' folded; each action has its own log.
    logs = {
        str(d.get_attribute("data-action")): d for d in browser.find_elements(By.CSS_SELECTOR, "details.action-logs")
    }
    assert list(logs) == ["a0", *nested.children]
    assert [name for name, d in logs.items() if d.get_attribute("open") is not None] == [child]
    child_log = logs[child].find_element(By.CSS_SELECTOR, "pre.log").text
    assert "child sleeping" in child_log and child in child_log
    logs["a0"].find_element(By.TAG_NAME, "summary").click()  # unfold the parent's: its own runtime, not a child's
    parent_log = logs["a0"].find_element(By.CSS_SELECTOR, "pre.log").text
    assert "child sleeping" not in parent_log and "for action a0" in parent_log


def test_clicking_a_child_in_the_tree_selects_it(nested: NestedRun, browser: Chrome) -> None:
    child = nested.children[0]
    open_page(browser, nested.url)
    browser.find_element(By.CSS_SELECTOR, f"tr.action[data-action='{child}'] td.name a").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url == f"{nested.url}?i={child}")
    WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda b: b.find_element(By.ID, "selected-action").get_attribute("data-action") == child
    )
    assert browser.find_element(By.CSS_SELECTOR, "#selected-action table.values.outputs").text.split() == [
        "o0",
        str(SLEEP),
    ]
