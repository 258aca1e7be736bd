"""Fixtures of the review console tests: settings on the test broker, a loopback image host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.image_server import ImageServer, make_jpeg, make_png


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with ImageServer() as server:
        server.add_bytes("/red.png", make_png("red", (600, 400)), "image/png")
        server.add_bytes("/blue.jpg", make_jpeg("blue", (300, 300)), "image/jpeg")
        server.add_bytes("/page.html", b"<html>not an image</html>", "text/html")
        yield server
