"""The SSRF policy against real sockets: refused URLs never reach the canary server.

`trap` is a live server on a loopback port that is NOT allow-listed and answers every path with a
valid PNG, so any request that slipped through would succeed; each test asserts it saw nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from events.settings import FetchSettings
from tests.image_server import ImageServer, make_png
from tests.integration.fetcher.fetching import fetch_one

Settings = Callable[..., FetchSettings]


def test_canary_would_answer_if_reached(trap: ImageServer, fetch_settings: Settings) -> None:
    """The control: allow-listed, the canary serves an image, so its silence below means something."""
    result = fetch_one(fetch_settings(allow_hosts=[trap.host]), trap.url("/anything.png"))
    assert result.status == "ok"
    assert trap.requests == ["/anything.png"]


@pytest.mark.parametrize(
    "url_of",
    [
        pytest.param(lambda port: f"http://127.0.0.1:{port}/x.png", id="loopback-v4"),
        pytest.param(lambda port: f"http://localhost:{port}/x.png", id="name-resolving-to-loopback"),
        pytest.param(lambda port: f"http://[::1]:{port}/x.png", id="loopback-v6"),
        pytest.param(lambda port: f"http://[::ffff:127.0.0.1]:{port}/x.png", id="v4-mapped-v6"),
        pytest.param(lambda port: f"http://2130706433:{port}/x.png", id="decimal"),
        pytest.param(lambda port: f"http://0x7f.1:{port}/x.png", id="hex"),
        pytest.param(lambda port: f"http://127.1:{port}/x.png", id="short-form"),
        pytest.param(lambda port: f"http://0.0.0.0:{port}/x.png", id="unspecified"),
    ],
)
def test_loopback_in_any_spelling_is_blocked(
    trap: ImageServer, fetch_settings: Settings, url_of: Callable[[int], str]
) -> None:
    result = fetch_one(fetch_settings(), url_of(trap.port))
    assert (result.status, result.reason, result.data) == ("blocked", "private_address", None)
    assert trap.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[fe80::1]/x.png", "private_address"),
        ("http://10.0.0.1/x.png", "private_address"),
        ("file:///etc/passwd", "scheme"),
        ("ftp://127.0.0.1/x.png", "scheme"),
        ("gopher://127.0.0.1:70/_x", "scheme"),
        ("data:image/png;base64,iVBORw0KGgo=", "scheme"),
    ],
)
def test_refused_before_any_connection(fetch_settings: Settings, url: str, reason: str) -> None:
    resolved: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    result = fetch_one(fetch_settings(), url, resolver=resolver)
    assert (result.status, result.reason) == ("blocked", reason)
    assert resolved == []  # decided from the URL alone: no lookup, no connection
    assert result.elapsed_s < 0.5


@pytest.mark.parametrize(
    "location_of",
    [
        pytest.param(lambda port: f"http://127.0.0.1:{port}/x.png", id="loopback-port"),
        pytest.param(lambda port: f"http://localhost:{port}/x.png", id="loopback-name"),
        pytest.param(lambda port: f"http://[::1]:{port}/x.png", id="loopback-v6"),
    ],
)
def test_redirect_to_a_loopback_port_that_is_not_allow_listed(
    server: ImageServer, trap: ImageServer, fetch_settings: Settings, location_of: Callable[[int], str]
) -> None:
    server.add_redirect("/hop", location_of(trap.port))
    result = fetch_one(fetch_settings(), server.url("/hop"))
    assert (result.status, result.reason) == ("blocked", "private_address")
    assert server.requests == ["/hop"]
    assert trap.requests == []


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/x.png", "scheme"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
    ],
)
def test_redirect_to_a_refused_url(
    server: ImageServer, fetch_settings: Settings, location: str, reason: str
) -> None:
    server.add_redirect("/hop", location)
    result = fetch_one(fetch_settings(), server.url("/hop"))
    assert (result.status, result.reason) == ("blocked", reason)


def test_host_name_rebound_to_loopback_is_blocked(trap: ImageServer, fetch_settings: Settings) -> None:
    """A public-looking name whose DNS answer is loopback: refused at connect time."""

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "images.attacker.example" else []

    result = fetch_one(
        fetch_settings(), f"http://images.attacker.example:{trap.port}/x.png", resolver=resolver
    )
    assert (result.status, result.reason) == ("blocked", "private_address")
    assert trap.requests == []


def test_allow_listed_host_name(server: ImageServer, fetch_settings: Settings) -> None:
    """`localhost:port` on the allow-list: the name resolves to loopback and is let through."""
    body = make_png("blue")
    server.add_bytes("/ok.png", body, "image/png")
    settings = fetch_settings(allow_hosts=[f"localhost:{server.port}"])
    result = fetch_one(settings, server.url("/ok.png", host="localhost"))
    assert (result.status, result.data) == ("ok", body)
    # The same server by address is a different host, and is not on this allow-list.
    assert fetch_one(settings, server.url("/ok.png")).status == "blocked"


def test_unresolvable_host_fails(fetch_settings: Settings) -> None:
    result = fetch_one(fetch_settings(), "http://no-such-host.invalid/x.png")
    assert (result.status, result.reason) == ("failed", "dns")
