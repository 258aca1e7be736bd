"""The review console in a real headless Chromium, against the real broker and a loopback image host."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from events.schemas import Post
from events.settings import Settings
from tests.image_server import ImageServer, make_jpeg, make_png
from tests.integration.review.browser import foreign_hosts, js, requested_urls, sign_in, wait_until
from tests.integration.review.console import Console, make_result, publish, read_feedback, run_console
from tests.services import Broker, free_port, unique

ROOT = Path(__file__).resolve().parents[3]
USER, PASSWORD = "alice", "correct horse battery"


@dataclass
class Stack:
    settings: Settings
    console: Console
    images: ImageServer


@pytest.fixture(scope="module")
def stack(broker: Broker) -> Iterator[Stack]:
    suffix = unique("rv")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        kafka={"bootstrap_servers": broker.bootstrap, "topic_partitions": 3},
        topics={
            name: f"{name}-{suffix}" for name in ["posts", "results", "dlq", "feedback", "model_updates"]
        },
    )
    with ImageServer() as images:
        images.add_bytes("/red.png", make_png("red", (640, 480)), "image/png")
        images.add_bytes("/blue.jpg", make_jpeg("blue", (400, 400)), "image/jpeg")
        images.add_bytes("/green.png", make_png("green", (300, 500)), "image/png")
        with run_console(settings, users={USER: PASSWORD, "bob": "x"}, allow_hosts=[images.host]) as console:
            yield Stack(settings, console, images)


def open_page(driver: WebDriver, stack: Stack) -> None:
    sign_in(driver, USER, PASSWORD)
    driver.get(stack.console.url)
    wait_until(lambda: "live" in driver.find_element(By.ID, "conn").text, what="the event stream")


def card(driver: WebDriver, post_id: str, timeout_s: float = 30.0) -> WebElement:
    found: list[WebElement] = wait_until(
        lambda: driver.find_elements(By.CSS_SELECTOR, f'[data-post-id="{post_id}"]'),
        timeout_s=timeout_s,
        what=f"card {post_id}",
    )
    assert len(found) == 1, f"{len(found)} cards for {post_id}"
    return found[0]


def decided(driver: WebDriver, post_id: str) -> str | None:
    """The card's data-decided, read in the page (a re-rendered card has no stale handle to trip on)."""
    found = js(
        driver,
        'const c = document.querySelector(`[data-post-id="${arguments[0]}"]`); return c && c.dataset.decided',
        post_id,
    )
    return None if found is None else str(found)


def click(driver: WebDriver, element: WebElement) -> None:
    """Click after centring the element: the page's sticky header must not take the click."""
    js(driver, "arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def feedback_for(
    stack: Stack, post_id: str
) -> list[tuple[str, list[str], str | None, str | None, str | None]]:
    return [
        (f.post_id, f.labels, f.moderator_id, f.text, f.image_url)
        for f in read_feedback(stack.settings, idle_s=2.0)
        if f.post_id == post_id
    ]


def test_post_and_result_in_either_order_make_one_card(chromium: WebDriver, stack: Stack) -> None:
    open_page(chromium, stack)
    publish(stack.settings, posts=[Post(post_id="post-first", text="the post came first")])
    publish(stack.settings, results=[make_result("post-first", flagged=False, top="NotHate")])
    publish(stack.settings, results=[make_result("result-first", flagged=True, top="Sexist")])
    publish(stack.settings, posts=[Post(post_id="result-first", text="the result came first")])
    first = card(chromium, "post-first")
    second = card(chromium, "result-first")
    assert "the post came first" in first.text and "NotHate" in first.text
    assert "the result came first" in second.text and "Sexist" in second.text and "flagged" in second.text
    assert "model v-test" in second.text and "image ok" in second.text
    # A second result for the same post (say, a rescore) updates the card; it never makes another.
    publish(
        stack.settings, results=[make_result("post-first", flagged=False, top="NotHate", version="v-two")]
    )
    wait_until(lambda: "model v-two" in card(chromium, "post-first").text, what="the rescore")


def test_benign_click_and_a_multi_label_decision_each_publish_one_feedback(
    chromium: WebDriver, stack: Stack
) -> None:
    posts = [
        Post(post_id="benign-1", text="a friendly post", image_url=stack.images.url("/blue.jpg")),
        Post(post_id="multi-1", text="a hateful post"),
    ]
    publish(stack.settings, posts=posts, results=[make_result(p.post_id, flagged=True) for p in posts])
    open_page(chromium, stack)

    benign = card(chromium, "benign-1")
    click(chromium, benign.find_element(By.CSS_SELECTOR, '[data-action="benign"]'))
    wait_until(lambda: decided(chromium, "benign-1") == "true", what="benign decided")
    assert "decided: benign by alice" in card(chromium, "benign-1").text

    multi = card(chromium, "multi-1")
    for label in ["Sexist", "Racist"]:
        click(chromium, multi.find_element(By.CSS_SELECTOR, f'[data-label="{label}"]'))
    click(chromium, multi.find_element(By.CSS_SELECTOR, '[data-action="decide"]'))
    wait_until(lambda: decided(chromium, "multi-1") == "true", what="multi decided")

    assert feedback_for(stack, "benign-1") == [
        ("benign-1", [], USER, "a friendly post", stack.images.url("/blue.jpg"))
    ]
    assert feedback_for(stack, "multi-1") == [("multi-1", ["Racist", "Sexist"], USER, "a hateful post", None)]


def test_keyboard_decides_the_focused_card(chromium: WebDriver, stack: Stack) -> None:
    publish(
        stack.settings,
        posts=[Post(post_id="keys-1", text="decided from the keyboard")],
        results=[make_result("keys-1", flagged=True)],
    )
    open_page(chromium, stack)
    target = card(chromium, "keys-1")
    js(chromium, "arguments[0].focus()", target)
    target.send_keys("2")  # the second label toggle: Racist (the model's order)
    target.send_keys(Keys.ENTER)
    wait_until(lambda: decided(chromium, "keys-1") == "true", what="keyboard decision")
    assert feedback_for(stack, "keys-1") == [("keys-1", ["Racist"], USER, "decided from the keyboard", None)]


def test_filters_flagged_only_top_label_and_undecided_only(chromium: WebDriver, stack: Stack) -> None:
    posts = [Post(post_id=f"filter-{n}", text=f"filter post {n}") for n in range(3)]
    results = [
        make_result("filter-0", flagged=True, top="Religion"),
        make_result("filter-1", flagged=False, top="NotHate"),
        make_result("filter-2", flagged=True, top="Homophobe"),
    ]
    publish(stack.settings, posts=posts, results=results)
    open_page(chromium, stack)
    for post in posts:
        card(chromium, post.post_id)

    def shown() -> set[str]:
        ids = js(
            chromium, "return [...document.querySelectorAll('[data-post-id]')].map(c => c.dataset.postId)"
        )
        return {i for i in ids if i.startswith("filter-")}

    assert shown() == {"filter-0", "filter-1", "filter-2"}
    click(chromium, chromium.find_element(By.ID, "f-flagged"))
    wait_until(lambda: shown() == {"filter-0", "filter-2"}, what="flagged only")
    Select(chromium.find_element(By.ID, "f-label")).select_by_value("Religion")
    wait_until(lambda: shown() == {"filter-0"}, what="top label Religion")
    Select(chromium.find_element(By.ID, "f-label")).select_by_value("")
    click(chromium, chromium.find_element(By.ID, "f-flagged"))
    wait_until(lambda: shown() == {"filter-0", "filter-1", "filter-2"}, what="no filter")
    click(chromium, card(chromium, "filter-1").find_element(By.CSS_SELECTOR, '[data-action="benign"]'))
    wait_until(lambda: decided(chromium, "filter-1") == "true", what="filter-1 decided")
    click(chromium, chromium.find_element(By.ID, "f-undecided"))
    wait_until(lambda: shown() == {"filter-0", "filter-2"}, what="undecided only")
    # A result pushed live is filtered the same way: a new flagged card shows, a decided one does not.
    publish(
        stack.settings,
        posts=[Post(post_id="filter-3", text="late")],
        results=[make_result("filter-3", flagged=True)],
    )
    wait_until(lambda: shown() == {"filter-0", "filter-2", "filter-3"}, what="a live card under the filter")
    click(chromium, chromium.find_element(By.ID, "f-undecided"))


def test_a_flagged_image_is_blurred_until_clicked(chromium: WebDriver, stack: Stack) -> None:
    posts = [
        Post(post_id="img-flagged", text="flagged, with an image", image_url=stack.images.url("/red.png")),
        Post(
            post_id="img-clear", text="not flagged, with an image", image_url=stack.images.url("/green.png")
        ),
    ]
    publish(
        stack.settings,
        posts=posts,
        results=[
            make_result("img-flagged", flagged=True),
            make_result("img-clear", flagged=False, top="NotHate"),
        ],
    )
    open_page(chromium, stack)

    def image(post_id: str) -> WebElement:
        img: WebElement = card(chromium, post_id).find_element(By.CSS_SELECTOR, 'img[data-role="thumb"]')
        wait_until(
            lambda: js(chromium, "return arguments[0].complete && arguments[0].naturalWidth", img),
            what="image",
        )
        return img

    def filter_of(img: WebElement) -> str:
        return str(js(chromium, "return getComputedStyle(arguments[0]).filter", img))

    flagged, clear = image("img-flagged"), image("img-clear")
    assert "blur" in filter_of(flagged)
    assert filter_of(clear) == "none"
    click(chromium, flagged)
    assert filter_of(flagged) == "none"


def test_the_page_never_requests_anything_from_another_host(chromium: WebDriver, stack: Stack) -> None:
    posts = [
        Post(post_id=f"net-{i}", text=f"post {i}", image_url=stack.images.url(path))
        for i, path in enumerate(["/red.png", "/blue.jpg", "/green.png"])
    ]
    publish(
        stack.settings,
        posts=posts,
        results=[make_result(p.post_id, flagged=i % 2 == 0) for i, p in enumerate(posts)],
    )
    requested_urls(chromium)  # drain what earlier tests left in the log
    open_page(chromium, stack)
    for post in posts:
        img = card(chromium, post.post_id).find_element(By.CSS_SELECTOR, 'img[data-role="thumb"]')
        wait_until(
            lambda img=img: js(chromium, "return arguments[0].complete && arguments[0].naturalWidth", img)
        )
    urls = requested_urls(chromium)
    assert any("/thumb/net-0" in url for url in urls), urls  # the log did record the page's requests
    assert foreign_hosts(urls, stack.console.host) == []
    assert all(stack.images.host not in url for url in urls)


def test_screenshot(chromium: WebDriver, stack: Stack, tmp_path: Path) -> None:
    """Writes docs/review-console.png when MODSTREAM_WRITE_SCREENSHOT=1, else a copy under tmp_path."""
    texts = [
        ("shot-1", "You people should all go back where you came from", "Racist", True, "/red.png"),
        ("shot-2", "Great match last night, what a finish!", "NotHate", False, "/green.png"),
        ("shot-3", "Women don't belong in engineering, end of story", "Sexist", True, None),
        ("shot-4", "Lovely sunset over the harbour this evening", "NotHate", False, "/blue.jpg"),
    ]
    posts = [Post(post_id=i, text=t, image_url=stack.images.url(p) if p else None) for i, t, _, _, p in texts]
    results = [
        make_result(
            i, flagged=f, top=top, version="v20261201T020000Z-3e9bbb", image_status="ok" if p else "absent"
        )
        for i, _, top, f, p in texts
    ]
    publish(stack.settings, posts=posts, results=results)
    open_page(chromium, stack)
    for post_id, *_ in texts:
        card(chromium, post_id)
    js(chromium, "document.querySelector('[data-post-id=\"shot-2\"] details').open = true")
    click(chromium, card(chromium, "shot-4").find_element(By.CSS_SELECTOR, '[data-action="benign"]'))
    shot3 = card(chromium, "shot-3")
    for label in ["Sexist", "OtherHate"]:
        click(chromium, shot3.find_element(By.CSS_SELECTOR, f'[data-label="{label}"]'))
    wait_until(lambda: decided(chromium, "shot-4") == "true", what="benign decided")
    wait_until(lambda: js(chromium, "return [...document.images].every(i => i.complete)"), what="images")
    out = (
        ROOT / "docs" / "review-console.png"
        if os.environ.get("MODSTREAM_WRITE_SCREENSHOT")
        else tmp_path / "shot.png"
    )
    assert chromium.save_screenshot(str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_decision_the_broker_does_not_take_is_shown_not_swallowed(chromium: WebDriver) -> None:
    """A broker of its own, stopped before the click: the decision cannot be acknowledged."""
    from modstream.broker import spawn_broker, wait_until_ready

    port = free_port()
    own_broker = spawn_broker("127.0.0.1", port)
    try:
        wait_until_ready(f"127.0.0.1:{port}", proc=own_broker)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            kafka={"bootstrap_servers": f"127.0.0.1:{port}", "topic_partitions": 1},
            review={"ack_timeout_s": 2.0},
        )
        with run_console(settings, users={USER: PASSWORD}) as console:
            publish(settings, posts=[Post(post_id="fail-1", text="cannot be decided")])
            publish(settings, results=[make_result("fail-1", flagged=True)])
            sign_in(chromium, USER, PASSWORD)
            chromium.get(console.url)
            target = card(chromium, "fail-1")
            own_broker.terminate()
            own_broker.wait(timeout=10)
            click(chromium, target.find_element(By.CSS_SELECTOR, '[data-action="benign"]'))
            status = wait_until(
                lambda: card(chromium, "fail-1").find_elements(By.CSS_SELECTOR, ".status.error"),
                timeout_s=30,
                what="the error on the card",
            )[0]
            assert status.text.startswith("not recorded:"), status.text
            assert decided(chromium, "fail-1") == "false"
            # The buttons come back, so the moderator can try again.
            assert (
                card(chromium, "fail-1").find_element(By.CSS_SELECTOR, '[data-action="benign"]').is_enabled()
            )
    finally:
        own_broker.kill()
        own_broker.wait(timeout=10)
