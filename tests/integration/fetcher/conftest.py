"""A loopback image server (allow-listed), a canary (not allow-listed), and fetch settings for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from events.settings import FetchSettings
from tests.image_server import ImageServer, canary


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as s:
        yield s


@pytest.fixture
def trap() -> Iterator[ImageServer]:
    with canary() as c:
        yield c


@pytest.fixture
def fetch_settings(server: ImageServer) -> Callable[..., FetchSettings]:
    """Tight limits so failures show quickly; only `server` is allow-listed."""

    def make(**overrides: Any) -> FetchSettings:
        base: dict[str, Any] = {
            "allow_hosts": [server.host],
            "connect_timeout_s": 0.5,
            "read_timeout_s": 0.5,
            "total_timeout_s": 1.5,
            "max_bytes": 256 * 1024,
            "retries": 2,
            "backoff_s": 0.01,
            "backoff_max_s": 0.05,
        }
        return FetchSettings(**(base | overrides))

    return make
