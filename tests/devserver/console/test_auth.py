"""With auth on, the console is behind the API's bearer check: no run data without a token."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from flyte_remote_core.devserver.pytest_plugin import FlyteDevserverFixture

from .browser import open_page

pytestmark = pytest.mark.flyte_devserver_options(auth=True)


def test_no_page_without_credentials_then_signed_in(flyte_devserver: FlyteDevserverFixture, browser: Chrome) -> None:
    run = flyte_devserver.client.run("sample_tasks.add", {"x": 20, "y": 22}).wait(quiet=True)
    resp = httpx.get(run.url)
    assert resp.status_code == 401 and run.name not in resp.text
    assert httpx.get(run.url + ".json").status_code == 401
    assert httpx.get(run.url, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    listing = run.url.rsplit("/", 1)[0]
    assert httpx.get(listing).status_code == 401

    open_page(browser, run.url)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Sign in required"
    assert run.name not in browser.page_source

    auth = flyte_devserver.server.auth_manager
    assert auth is not None
    token, _ = auth.issue_token(*auth.create_client("console-test"))
    assert httpx.get(run.url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # A browser cannot send the header: the sign-in form stores the token as the console's cookie.
    browser.find_element(By.ID, "token-input").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    open_page(browser, run.url)
    assert browser.find_element(By.ID, "run-name").text == run.name
    assert "42" in browser.find_element(By.CSS_SELECTOR, "table.values.outputs").text
