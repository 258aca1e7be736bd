"""Headless Chromium from Debian's packages, driven by selenium through /usr/bin/chromedriver.

Selenium is given the driver's path, so selenium-manager never looks for (or downloads) anything.
Credentials go in as an Authorization header set through CDP, for every request the page makes; the
performance log records the page's network requests so a test can check where they went.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
T = TypeVar("T")


def start_chromium() -> WebDriver:
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        raise RuntimeError("Debian's chromium and chromium-driver are needed: run `make browser-deps`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in [
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1000",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-proxy-server",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def sign_in(driver: WebDriver, user: str, password: str) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL the browser asked for since the last call (the performance log is drained)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign_hosts(urls: list[str], console_host: str) -> list[str]:
    return [url for url in urls if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
            and urlsplit(url).netloc != console_host]  # fmt: skip


def wait_until(check: Callable[[], T | None], *, timeout_s: float = 30.0, what: str = "condition") -> T:
    """`check()` until it is truthy. An element the page re-rendered between finding and reading it
    (StaleElementReferenceException) is a "not yet": the page is updating, which is what is awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def js(driver: WebDriver, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)
