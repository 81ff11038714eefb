"""The run page in a real browser, at the URL the client prints: content, data, errors, 404, live updates."""

from __future__ import annotations

import uuid

import httpx
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from flyte_remote_core import FlyteClient
from flyte_remote_core.devserver import DevServer

from .browser import open_page

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _phase(browser: Chrome) -> str:
    return str(browser.find_element(By.ID, "run-summary").get_attribute("data-phase"))


def _assert_no_alert(browser: Chrome) -> None:
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 (the lookup is the check)


def test_the_url_the_client_prints_opens_that_run(client: FlyteClient, browser: Chrome) -> None:
    run = client.run("sample_tasks.add", {"x": 2, "y": 3}).wait(quiet=True)
    assert "/v2/domain/development/project/flytesnacks/runs/" in run.url
    open_page(browser, run.url)
    assert browser.find_element(By.ID, "run-name").text == run.name
    assert _phase(browser) == "SUCCEEDED"
    summary = browser.find_element(By.ID, "run-summary")
    assert summary.find_element(By.CSS_SELECTOR, ".task").text == "sample_tasks.add"
    for field in ("start", "end", "duration"):
        assert summary.find_element(By.CSS_SELECTOR, f".{field}").text not in ("", "-"), field
    inputs = browser.find_element(By.CSS_SELECTOR, "table.values.inputs").text
    assert "x" in inputs and "2" in inputs and "3" in inputs
    assert browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text.split() == ["o0", "5"]
    # The action tree: the root action with its phase and a timeline bar that has a width.
    row = browser.find_element(By.CSS_SELECTOR, "table.timeline tr.action[data-action='a0']")
    assert "SUCCEEDED" in row.text
    bar = row.find_element(By.CSS_SELECTOR, ".bar")
    assert bar.size["width"] > 0
    assert browser.find_element(By.CSS_SELECTOR, "main").get_attribute("data-terminal") == "true"


def test_a_failed_run_shows_its_error_and_logs_escaped(client: FlyteClient, browser: Chrome) -> None:
    run = client.run("sample_tasks.fail_user", {"message": HOSTILE}).wait(quiet=True)
    open_page(browser, run.url)
    _assert_no_alert(browser)
    assert _phase(browser) == "FAILED"
    error = browser.find_element(By.ID, "run-error")
    assert error.find_element(By.CSS_SELECTOR, ".error-kind").text == "USER"
    assert HOSTILE in error.find_element(By.CSS_SELECTOR, ".error-message").text
    # The traceback in the log file carries the hostile text too: shown, not run.
    log = browser.find_element(By.CSS_SELECTOR, "details.action-logs[data-action='a0'] pre.log").text
    assert "ValueError" in log and HOSTILE in log
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []


def test_hostile_inputs_and_outputs_are_shown_literally(client: FlyteClient, browser: Chrome) -> None:
    run = client.run("sample_tasks.greet", {"name": HOSTILE}).wait(quiet=True)
    open_page(browser, run.url)
    _assert_no_alert(browser)
    assert HOSTILE in browser.find_element(By.CSS_SELECTOR, "table.values.inputs").text
    assert f"Hello, {HOSTILE}!" in browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []


def test_the_action_url_the_client_prints_selects_that_action(client: FlyteClient, browser: Chrome) -> None:
    # FlyteClient.run_url is what the Airflow hook, the operator's extra link and the Dagster
    # metadata are built from (Run.url included).
    run = client.run("sample_tasks.negate", {"flag": True}).wait(quiet=True)
    url = client.run_url(run.name, action="a0")
    assert url == run.url + "?i=a0"
    open_page(browser, url)
    assert browser.find_element(By.ID, "run-name").text == run.name
    assert browser.find_element(By.ID, "selected-action").get_attribute("data-action") == "a0"
    assert "false" in browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text


def test_logs_of_an_action(client: FlyteClient, browser: Chrome) -> None:
    run = client.run("sample_tasks.chatty", {"lines": 2}).wait(quiet=True)
    open_page(browser, run.url + "?i=a0")
    assert browser.find_element(By.ID, "selected-action").get_attribute("data-action") == "a0"
    log = browser.find_element(By.CSS_SELECTOR, "details.action-logs[data-action='a0'] pre.log").text
    assert "stdout line 0" in log and "stderr line 1" in log


def test_unknown_run_is_a_404_page(server: DevServer, browser: Chrome) -> None:
    url = f"{server.url}/v2/domain/development/project/flytesnacks/runs/rnosuchrun"
    assert httpx.get(url).status_code == 404
    assert httpx.get(url + ".json").status_code == 404
    open_page(browser, url)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Run not found"
    assert "rnosuchrun does not exist" in browser.find_element(By.CSS_SELECTOR, "p.message").text


def test_unknown_action_is_a_404_page(client: FlyteClient, browser: Chrome) -> None:
    run = client.run("sample_tasks.noop").wait(quiet=True)
    assert httpx.get(run.url + "?i=a9").status_code == 404
    open_page(browser, run.url + "?i=a9")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Action not found"


def test_hostile_url_segments_are_escaped_on_the_404_page(server: DevServer, browser: Chrome) -> None:
    url = f"{server.url}/v2/domain/dev/project/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E/runs/r1"
    open_page(browser, url)
    _assert_no_alert(browser)
    assert "<img src=x onerror=alert(1)>" in browser.find_element(By.CSS_SELECTOR, "p.message").text
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []


def test_a_running_run_updates_itself_until_it_ends(server: DevServer, client: FlyteClient, browser: Chrome) -> None:
    name = f"console-live-{uuid.uuid4().hex[:8]}"
    # The admin hold keeps the run RUNNING until released: the page is seen running for sure,
    # however slow the machine, and then seen to end without a reload.
    server.admin.hold(name)
    try:
        run = client.run("sample_tasks.sleepy", {"seconds": 0.2}, name=name)
        open_page(browser, run.url)
        WebDriverWait(browser, 20).until(lambda b: _phase(b) == "RUNNING")
        assert browser.find_element(By.CSS_SELECTOR, "main").get_attribute("data-terminal") == "false"
        browser.execute_script("window.__sameDocument = true")
    finally:
        server.admin.release(name)
    WebDriverWait(browser, 20).until(lambda b: _phase(b) == "SUCCEEDED")
    assert browser.execute_script("return window.__sameDocument") is True  # no reload happened
    WebDriverWait(browser, 5).until(
        lambda b: b.find_element(By.CSS_SELECTOR, "main").get_attribute("data-terminal") == "true"
    )
    assert "0.2" in browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text
    assert browser.title.endswith("SUCCEEDED")


def test_run_json(client: FlyteClient) -> None:
    run = client.run("sample_tasks.add", {"x": 1, "y": 1}).wait(quiet=True)
    data = httpx.get(run.url + ".json").json()
    assert data["name"] == run.name and data["phase"] == "SUCCEEDED" and data["terminal"] is True
    assert data["actions"][0]["outputs"] == [["o0", "2"]]


def test_headers_static_files_and_methods(client: FlyteClient, server: DevServer) -> None:
    run = client.run("sample_tasks.noop").wait(quiet=True)
    page = httpx.get(run.url)
    assert page.headers["content-type"].startswith("text/html")
    # No inline script may run even if something escaped the escaping.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.post(run.url).status_code == 405
    js = httpx.get(f"{server.url}/v2/_console/console.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/v2/_console/console.css").headers["content-type"].startswith("text/css")
    assert httpx.get(f"{server.url}/v2/_console/../app.py").status_code == 404
