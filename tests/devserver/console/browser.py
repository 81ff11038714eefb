"""A headless Chromium driven by Selenium, as the console tests (and the screenshot script) use it.

Debian's chromium and chromedriver (``make install-browser``). The network is closed where
the suite runs, so every flag that makes Chromium phone home is off: without them it hangs
on connections it cannot make.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)


def available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def make_driver(profile_dir: Path) -> webdriver.Chrome:
    """A fresh browser with its own profile in ``profile_dir`` (no state shared between runs)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def open_page(driver: webdriver.Chrome, url: str, timeout: float = 15.0) -> None:
    """Load ``url`` and wait until the console's script has run on it."""
    driver.get(url)
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.documentElement.getAttribute('data-console-ready')") == "true"
    )


def follow(driver: webdriver.Chrome, element: Any, timeout: float = 15.0) -> None:
    """Click ``element``, which loads another page, and wait until that page's script has run."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, timeout).until(staleness_of(old))
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.documentElement.getAttribute('data-console-ready')") == "true"
    )
