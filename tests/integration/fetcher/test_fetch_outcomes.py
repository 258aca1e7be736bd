"""What the fetcher makes of real responses from a loopback server: images, errors, slow and huge bodies."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from events.settings import FetchSettings
from fetcher import BackgroundFetcher
from tests.image_server import ImageServer, make_html, make_jpeg, make_png
from tests.integration.fetcher.fetching import fetch_all, fetch_one

Settings = Callable[..., FetchSettings]


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/cat.jpg", make_jpeg("blue"), "image/jpeg"),
        ("/cat.png", make_png("red"), "image/png"),
        ("/mislabelled.png", make_png("green"), "text/html"),  # the header is not trusted either way
    ],
)
def test_images_are_fetched(
    server: ImageServer, fetch_settings: Settings, path: str, body: bytes, content_type: str
) -> None:
    server.add_bytes(path, body, content_type)
    result = fetch_one(fetch_settings(), server.url(path))
    assert (result.status, result.reason, result.data) == ("ok", None, body)
    assert result.final_url == server.url(path)
    assert server.requests == [path]


def test_404_is_not_retried(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_status("/gone", 404)
    result = fetch_one(fetch_settings(retries=2), server.url("/gone"))
    assert (result.status, result.reason, result.data) == ("failed", "http_404", None)
    assert server.requests == ["/gone"]


def test_500_is_retried_then_failed(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_status("/broken", 500)
    result = fetch_one(fetch_settings(retries=2), server.url("/broken"))
    assert (result.status, result.reason) == ("failed", "http_500")
    assert server.requests == ["/broken"] * 3  # the first try and two retries


def test_hanging_server_times_out_within_the_deadline(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_hang("/hang")
    settings = fetch_settings(read_timeout_s=0.3, total_timeout_s=1.0)
    result = fetch_one(settings, server.url("/hang"))
    assert (result.status, result.reason) == ("failed", "timeout")
    assert settings.read_timeout_s <= result.elapsed_s < settings.total_timeout_s + 0.5
    assert len(server.requests) >= 2  # a read timeout is transient: retried inside the deadline


def test_slow_drip_is_cut_off_at_the_total_deadline(server: ImageServer, fetch_settings: Settings) -> None:
    body = make_png("red", (64, 64)) + b"\0" * 2000
    # Each chunk arrives well inside the read timeout; only the total deadline can stop it.
    server.add_slow_drip("/drip", body, bytes_per_chunk=100, delay_s=0.1)
    settings = fetch_settings(read_timeout_s=1.0, total_timeout_s=1.0)
    result = fetch_one(settings, server.url("/drip"))
    assert (result.status, result.reason) == ("failed", "timeout")
    assert settings.total_timeout_s <= result.elapsed_s < settings.total_timeout_s + 0.5
    assert server.bytes_sent("/drip") < len(body)


def test_oversized_body_is_abandoned_while_streaming(server: ImageServer, fetch_settings: Settings) -> None:
    n_bytes = 200 * 1024 * 1024
    server.add_huge("/huge", n_bytes, content_length=False)  # nothing announced: must count bytes
    settings = fetch_settings(max_bytes=1024 * 1024, total_timeout_s=5.0)
    result = fetch_one(settings, server.url("/huge"))
    assert (result.status, result.reason, result.data) == ("failed", "too_large", None)
    assert server.requests == ["/huge"]  # too large is not transient
    # Socket buffers let the server write a few MB ahead of the reader, never the whole body.
    assert server.bytes_sent("/huge") < n_bytes // 10


def test_declared_oversized_body_is_refused_before_reading(
    server: ImageServer, fetch_settings: Settings
) -> None:
    n_bytes = 200 * 1024 * 1024
    server.add_huge("/huge", n_bytes, content_length=True)
    result = fetch_one(fetch_settings(max_bytes=1024 * 1024), server.url("/huge"))
    assert (result.status, result.reason) == ("failed", "too_large")
    assert server.bytes_sent("/huge") < n_bytes // 10


def test_body_at_the_limit_is_accepted(server: ImageServer, fetch_settings: Settings) -> None:
    body = make_png("red")
    server.add_bytes("/exact.png", body, "image/png")
    assert fetch_one(fetch_settings(max_bytes=len(body)), server.url("/exact.png")).status == "ok"
    assert fetch_one(fetch_settings(max_bytes=len(body) - 1), server.url("/exact.png")).reason == "too_large"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (make_html(), "image/jpeg"),  # HTML served as JPEG
        (b'{"error": "no"}', "application/json"),  # wrong content type, and not an image
        (b"", "image/png"),  # empty
    ],
)
def test_non_images_fail_whatever_the_header_says(
    server: ImageServer, fetch_settings: Settings, body: bytes, content_type: str
) -> None:
    server.add_bytes("/x", body, content_type)
    result = fetch_one(fetch_settings(), server.url("/x"))
    assert (result.status, result.reason, result.data) == ("failed", "not_image", None)
    assert server.requests == ["/x"]


def test_redirects_are_followed(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_bytes("/final.jpg", make_jpeg(), "image/jpeg")
    server.add_redirect("/a", "/b", 301)
    server.add_redirect("/b", server.url("/final.jpg"), 307)
    result = fetch_one(fetch_settings(max_redirects=3), server.url("/a"))
    assert (result.status, result.final_url) == ("ok", server.url("/final.jpg"))
    assert server.requests == ["/a", "/b", "/final.jpg"]


def test_redirect_loop(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_redirect("/loop1", "/loop2")
    server.add_redirect("/loop2", "/loop1")
    result = fetch_one(fetch_settings(max_redirects=5), server.url("/loop1"))
    assert (result.status, result.reason) == ("failed", "redirect_loop")
    assert server.requests == ["/loop1", "/loop2"]


def test_too_many_redirects(server: ImageServer, fetch_settings: Settings) -> None:
    for i in range(5):
        server.add_redirect(f"/r{i}", f"/r{i + 1}")
    result = fetch_one(fetch_settings(max_redirects=2), server.url("/r0"))
    assert (result.status, result.reason) == ("failed", "too_many_redirects")
    assert server.requests == ["/r0", "/r1", "/r2"]


def test_concurrency_is_bounded_globally(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_bytes("/slow.png", make_png(), "image/png", delay_s=0.2)
    settings = fetch_settings(concurrency=3, per_host_concurrency=50, total_timeout_s=5.0)
    results = fetch_all(settings, [server.url(f"/slow.png?{i}") for i in range(10)])
    assert [r.status for r in results] == ["ok"] * 10
    assert server.max_concurrent == 3


def test_names_for_one_address_share_its_budget(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_bytes("/slow.png", make_png(), "image/png", delay_s=0.2)
    # Two host names (two domain keys) for one server: the address they resolve to has one bound of 2.
    settings = fetch_settings(
        allow_hosts=[server.host, f"localhost:{server.port}"],
        concurrency=50,
        per_host_concurrency=2,
        total_timeout_s=5.0,
    )
    urls = [server.url(f"/slow.png?{i}") for i in range(6)]
    urls += [server.url(f"/slow.png?{i}", host="localhost") for i in range(6)]
    results = fetch_all(settings, urls)
    assert [r.status for r in results] == ["ok"] * 12
    assert server.max_concurrent == 2


def test_waiting_for_a_slot_does_not_count_against_the_deadline(
    server: ImageServer, fetch_settings: Settings
) -> None:
    # One slot, each image takes 0.3 s: the sixth waits 1.5 s for its turn, three times the 0.5 s
    # deadline, yet each fetch itself is well inside it.
    server.add_bytes("/slow.png", make_png(), "image/png", delay_s=0.3)
    settings = fetch_settings(concurrency=1, per_host_concurrency=1, total_timeout_s=0.5, retries=0)
    results = fetch_all(settings, [server.url(f"/slow.png?{i}") for i in range(6)])
    assert [r.status for r in results] == ["ok"] * 6
    assert server.max_concurrent == 1


def test_observe_reports_each_outcome(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_bytes("/ok.png", make_png(), "image/png")
    server.add_status("/gone", 404)
    seen: list[tuple[str, float]] = []
    fetch_all(
        fetch_settings(),
        [server.url("/ok.png"), server.url("/gone"), "file:///etc/passwd"],
        observe=lambda outcome, s: seen.append((outcome, s)),
    )
    assert sorted(o for o, _ in seen) == ["http_404", "ok", "scheme"]
    assert all(s >= 0 for _, s in seen)


def test_background_fetcher_serves_synchronous_callers(server: ImageServer, fetch_settings: Settings) -> None:
    body = make_jpeg("red")
    server.add_bytes("/bg.jpg", body, "image/jpeg")
    server.add_status("/gone", 404)
    with BackgroundFetcher(fetch_settings()) as fetcher:
        futures = [fetcher.submit(server.url("/bg.jpg")), fetcher.submit(server.url("/gone"))]
        results = [f.result(timeout=5) for f in futures]
    assert [(r.status, r.reason) for r in results] == [("ok", None), ("failed", "http_404")]
    assert results[0].data == body
    with pytest.raises(RuntimeError):
        fetcher.submit(server.url("/bg.jpg"))


def test_background_fetcher_close_cancels_pending_fetches(
    server: ImageServer, fetch_settings: Settings
) -> None:
    server.add_hang("/hang")
    fetcher = BackgroundFetcher(fetch_settings(read_timeout_s=30, total_timeout_s=30))
    future = fetcher.submit(server.url("/hang"))
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:  # arrives in milliseconds
        time.sleep(0.01)
    assert server.requests == ["/hang"]
    started = time.monotonic()
    fetcher.close()
    assert time.monotonic() - started < 5
    assert future.cancelled()


def test_a_failing_observer_does_not_break_the_fetch(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_bytes("/ok.png", make_png(), "image/png")

    def broken(outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    assert fetch_one(fetch_settings(), server.url("/ok.png"), observe=broken).status == "ok"
