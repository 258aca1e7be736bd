"""Fixtures of the review console tests: a loopback image host, and one headless Chromium per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.image_server import ImageServer, make_jpeg, make_png
from tests.integration.review.browser import start_chromium


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with ImageServer() as server:
        server.add_bytes("/red.png", make_png("red", (600, 400)), "image/png")
        server.add_bytes("/blue.jpg", make_jpeg("blue", (300, 300)), "image/jpeg")
        server.add_bytes("/page.html", b"<html>not an image</html>", "text/html")
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[WebDriver]:
    """One headless browser for the whole session (each test opens its own page and credentials)."""
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()
