"""The run list in a real browser: newest first, phase and task filters, pages."""

from __future__ import annotations

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from flyte_remote_core.devserver.pytest_plugin import FlyteDevserverFixture

from .browser import follow, open_page


def _rows(browser: Chrome) -> list[str]:
    return [str(r.get_attribute("data-run")) for r in browser.find_elements(By.CSS_SELECTOR, "table.runs tr.run")]


@pytest.fixture
def five_runs(flyte_devserver: FlyteDevserverFixture) -> FlyteDevserverFixture:
    """A fresh devserver (nothing else listed) with runs list-1 .. list-5, oldest first; 2 and 4 fail."""
    client = flyte_devserver.client
    names = []
    for i in range(1, 6):
        if i % 2 == 0:
            run = client.run("sample_tasks.fail_user", {"message": "no"}, name=f"list-{i}")
        else:
            run = client.run("sample_tasks.add", {"x": i, "y": i}, name=f"list-{i}")
        names.append(run.name)
    for name in names:
        client.get_run(name).wait(quiet=True)
    return flyte_devserver


def test_newest_first_with_phase_task_and_duration(five_runs: FlyteDevserverFixture, browser: Chrome) -> None:
    open_page(browser, f"{five_runs.server.url}/v2/domain/development/project/flytesnacks/runs")
    assert _rows(browser) == ["list-5", "list-4", "list-3", "list-2", "list-1"]
    row = browser.find_element(By.CSS_SELECTOR, "tr.run[data-run='list-4']")
    assert "FAILED" in row.text and "sample_tasks.fail_user" in row.text
    assert row.find_element(By.CSS_SELECTOR, ".duration").text.endswith(" s")
    # Each row links to its run page.
    follow(browser, row.find_element(By.LINK_TEXT, "list-4"))
    assert browser.find_element(By.ID, "run-name").text == "list-4"


def test_filter_by_phase_in_the_form_and_by_task_in_the_url(five_runs: FlyteDevserverFixture, browser: Chrome) -> None:
    base = f"{five_runs.server.url}/v2/domain/development/project/flytesnacks/runs"
    open_page(browser, base)
    Select(browser.find_element(By.NAME, "phase")).select_by_value("FAILED")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.filters button"))
    assert "phase=FAILED" in browser.current_url
    assert _rows(browser) == ["list-4", "list-2"]
    open_page(browser, base + "?task=add")
    assert _rows(browser) == ["list-5", "list-3", "list-1"]
    open_page(browser, base + "?task=add&phase=FAILED")
    assert _rows(browser) == []


def test_pages(five_runs: FlyteDevserverFixture, browser: Chrome) -> None:
    open_page(browser, f"{five_runs.server.url}/v2/domain/development/project/flytesnacks/runs?size=2")
    assert _rows(browser) == ["list-5", "list-4"]
    assert "page 1 of 3" in browser.find_element(By.CSS_SELECTOR, ".page-no").text
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.next"))
    assert _rows(browser) == ["list-3", "list-2"]
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.next"))
    assert _rows(browser) == ["list-1"]
    assert browser.find_elements(By.CSS_SELECTOR, "a.next") == []
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.prev"))
    assert _rows(browser) == ["list-3", "list-2"]
