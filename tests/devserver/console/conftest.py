"""Console fixtures: one headless browser per test module, and page helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver

from flyte_remote_core import FlyteClient
from flyte_remote_core.devserver import DevServer

from .browser import CHROMEDRIVER, CHROMIUM, available, make_driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    if not available():
        # `make test` installs them (`make install-browser`): a missing browser is a broken setup, not a skip.
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: run `make install-browser`")
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def client(server: DevServer) -> Iterator[FlyteClient]:  # the module's devserver (tests/devserver/conftest.py)
    c = server.client()
    try:
        yield c
    finally:
        c.close()
