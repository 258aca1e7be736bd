"""A burst of 5,000 results (and their posts) into a console with a page open: the server caps what it
sends, the page caps what it keeps, the page keeps answering clicks, and the server's memory is bounded.

Prints its figures (pytest -s shows them): server RSS before/after, click answer times, cards kept.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from events.schemas import Post
from events.settings import Settings
from tests.integration.review.browser import js, sign_in, wait_until
from tests.integration.review.console import make_result, publish, read_all, run_console

USER, PASSWORD = "burst", "burst-password"
BURST = 5_000
CHUNK = 500
TEXT = "lorem ipsum dolor sit amet " * 8  # about 220 characters a post

# One benign click on the first undecided card, timed in the page from the click to the card showing
# the broker-acknowledged decision (the page's main thread, the server and the broker all in the path).
CLICK = """
const done = arguments[arguments.length - 1];
const card = document.querySelector('[data-post-id][data-decided="false"]');
if (!card) { done(null); return; }
const start = performance.now();
const id = card.dataset.postId;
card.querySelector('[data-action="benign"]').click();
const check = () => {
  const now = document.querySelector('[data-post-id="' + CSS.escape(id) + '"]');
  if (now && now.dataset.decided === "true") done(performance.now() - start);
  else if (performance.now() - start > 20000) done(-1);
  else setTimeout(check, 5);
};
check();
"""


def chunk(start: int, flagged_every: int = 3) -> tuple[list[Post], list]:  # type: ignore[type-arg]
    ids = [f"burst-{i:05d}" for i in range(start, start + CHUNK)]
    posts = [Post(post_id=i, text=f"{i} {TEXT}") for i in ids]
    results = [
        make_result(i, flagged=n % flagged_every == 0, image_status="absent") for n, i in enumerate(ids)
    ]
    return posts, results


def test_a_burst_of_5000_results(
    chromium: WebDriver, make_settings: Callable[..., Settings], capsys: object
) -> None:
    settings = make_settings()
    with run_console(settings, users={USER: PASSWORD}) as console:
        sign_in(chromium, USER, PASSWORD)
        chromium.get(console.url)
        wait_until(lambda: "live" in chromium.find_element(By.ID, "conn").text, what="the event stream")
        publish(
            settings, posts=[Post(post_id="warm", text="warm")], results=[make_result("warm", flagged=True)]
        )
        wait_until(
            lambda: chromium.find_elements(By.CSS_SELECTOR, '[data-post-id="warm"]'), what="warm-up card"
        )
        time.sleep(1.0)
        rss_before = console.rss_kib()

        clicks_ms: list[float] = []
        wall_ms: list[float] = []
        started = time.monotonic()
        for n, start in enumerate(range(0, BURST, CHUNK)):
            posts, results = chunk(start)
            if n % 2:  # half the chunks: results before their posts
                publish(settings, results=results)
                publish(settings, posts=posts)
            else:
                publish(settings, posts=posts, results=results)
            t0 = time.monotonic()
            answered = chromium.execute_async_script(CLICK)
            wall_ms.append((time.monotonic() - t0) * 1000)
            assert answered is not None and answered >= 0, f"click {n} not answered: {answered}"
            clicks_ms.append(float(answered))
        published_s = time.monotonic() - started

        # Everything read: the console's own count, not "the last post is on top" (the feed reads three
        # partitions of each topic, in whatever order their fetches come back).
        with httpx.Client(base_url=console.url, auth=(USER, PASSWORD), timeout=10) as client:
            read_all(client, 2 + 2 * BURST, what="the console to read the whole burst")
            snapshot = client.get("api/cards").json()["cards"]
        time.sleep(1.5)  # let the last pushes reach the page
        in_dom = js(chromium, "return document.querySelectorAll('[data-post-id]').length")
        heap_mib = js(
            chromium, "return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : -1"
        )
        rss_after_first = console.rss_kib()
        dropped_note = chromium.find_element(By.ID, "summary").text

        # A second burst of the same size: a bounded server does not grow with it the way it did at first.
        for start in range(BURST, 2 * BURST, CHUNK):
            posts, results = chunk(start)
            publish(settings, posts=posts, results=results)
        with httpx.Client(base_url=console.url, auth=(USER, PASSWORD), timeout=10) as client:
            status = read_all(client, 2 + 4 * BURST, what="the second burst")
        time.sleep(1.0)
        rss_after_second = console.rss_kib()

    print(
        f"\nREVIEW BURST results={BURST} chunks={BURST // CHUNK} publish+click loop {published_s:.1f}s\n"
        f"  server RSS: before {rss_before / 1024:.1f} MiB, after 5,000 {rss_after_first / 1024:.1f} MiB, "
        f"after 10,000 {rss_after_second / 1024:.1f} MiB\n"
        f"  click to acknowledged decision (in page, ms): {[round(c) for c in clicks_ms]} "
        f"median {statistics.median(clicks_ms):.0f} max {max(clicks_ms):.0f}\n"
        f"  same, seen from the test (WebDriver round trip, ms): max {max(wall_ms):.0f}\n"
        f"  cards in the DOM {in_dom} (page cap 300), snapshot {len(snapshot)}; "
        f"page JS heap {heap_mib:.1f} MiB\n"
        f"  page summary: {dropped_note!r}\n"
        f"  console status after 10,000: {status}"
    )
    assert status["feed"]["skipped"] == {}, status
    assert in_dom <= 300 and len(snapshot) <= 300
    assert max(clicks_ms) < 5_000  # generous: 2 shared cores, a broker and a browser on them
    # Bounded: 2,000 cards kept at most; the second 5,000 must not cost what the first did, plus slack.
    assert rss_after_first - rss_before < 200 * 1024
    assert rss_after_second - rss_after_first < max(40 * 1024, (rss_after_first - rss_before) // 2)
