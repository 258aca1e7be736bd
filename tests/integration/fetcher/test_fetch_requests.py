"""What the fetcher's requests say: its headers, and never a cookie (no httpx client, no jar: one
fetcher serves every post's URL, and a site's cookie must not follow a fetch of another)."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from events.settings import FetchSettings
from fetcher import ImageFetcher
from tests.image_server import make_png
from tests.integration.fetcher.fetching import fetch_all


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """(host:port, headers of each request): a server answering a PNG and setting a cookie."""
    seen: list[dict[str, str]] = []
    body = make_png("red")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", "session=secret; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("trusted", [False, True])
def test_requests_carry_our_headers_and_no_cookie(
    recorder: tuple[str, list[dict[str, str]]], trusted: bool
) -> None:
    host, seen = recorder
    settings = FetchSettings(
        allow_hosts=[host], trusted_hosts=[host] if trusted else [], user_agent="modstream-test/1"
    )
    results = fetch_all(settings, [f"http://{host}/a.png", f"http://{host}/b.png"])
    assert [r.status for r in results] == ["ok", "ok"]
    assert len(seen) == 2
    for headers in seen:
        assert headers["host"] == host
        assert headers["user-agent"] == "modstream-test/1"
        assert headers["accept"] == "image/*"
        assert headers["accept-encoding"] == "identity"  # a compressed body could be a bomb
        assert "cookie" not in headers


def test_a_cookie_set_by_one_response_is_not_sent_with_the_next(
    recorder: tuple[str, list[dict[str, str]]],
) -> None:
    host, seen = recorder
    settings = FetchSettings(allow_hosts=[host], trusted_hosts=[host], trusted_concurrency=1)

    async def twice() -> None:  # the same fetcher and (one) connection for both
        fetcher = ImageFetcher(settings)
        try:
            for path in ("/a.png", "/b.png"):
                assert (await fetcher.fetch(f"http://{host}{path}")).status == "ok"
        finally:
            await fetcher.aclose()

    asyncio.run(twice())
    assert len(seen) == 2 and all("cookie" not in h for h in seen)
