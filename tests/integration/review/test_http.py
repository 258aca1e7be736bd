"""The console's HTTP surface against the real broker: access, the cross-site rule, decisions, thumbnails."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from events.schemas import Post
from events.settings import Settings
from tests.image_server import ImageServer, canary
from tests.integration.review.console import (
    ROOT,
    console_env,
    make_result,
    publish,
    read_all,
    read_feedback,
    run_console,
)

USERS = {"alice": "correct horse", "bob": "battery staple"}
ROUTES = [
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", "/static/app.css"),
    ("GET", "/static/nope.js"),
    ("GET", "/api/me"),
    ("GET", "/api/cards"),
    ("GET", "/api/status"),
    ("GET", "/api/events"),
    ("GET", "/thumb/p1"),
    ("POST", "/api/cards/p1/decision"),
    ("GET", "/no/such/route"),
]


def wait_for_card(client: httpx.Client, post_id: str, timeout_s: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for card in client.get("api/cards").json()["cards"]:
            if card["post_id"] == post_id:
                return card  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"no card for {post_id}")


def test_every_route_needs_credentials_and_a_cross_site_post_is_refused(
    make_settings: Callable[..., Settings], images: ImageServer
) -> None:
    settings = make_settings()
    with run_console(settings, users=USERS, allow_hosts=[images.host]) as console:
        with httpx.Client(base_url=console.url, timeout=10) as anonymous:
            for method, path in ROUTES:
                answer = anonymous.request(method, path, json={"labels": []} if method == "POST" else None)
                assert answer.status_code == 401, (method, path, answer.status_code)
                assert answer.headers["www-authenticate"].startswith("Basic ")
                assert "default-src 'none'" in answer.headers["content-security-policy"]
            for auth in [("alice", "battery staple"), ("carol", "correct horse"), ("alice", "")]:
                assert anonymous.get("api/me", auth=auth).status_code == 401

        publish(settings, posts=[Post(post_id="p1", text="hello")], results=[make_result("p1", flagged=True)])
        with httpx.Client(base_url=console.url, timeout=10, auth=("alice", "correct horse")) as alice:
            assert alice.get("api/me").json()["moderator_id"] == "alice"
            wait_for_card(alice, "p1")
            same = {"origin": console.origin}
            refused = [
                alice.post(
                    "api/cards/p1/decision", json={"labels": []}, headers={"origin": "http://evil.example"}
                ),
                alice.post("api/cards/p1/decision", json={"labels": []}),  # no Origin at all
                alice.post(
                    "api/cards/p1/decision",
                    json={"labels": []},
                    headers=same | {"sec-fetch-site": "cross-site"},
                ),
                # What an HTML form on another site can send: urlencoded, no preflight.
                alice.post(
                    "api/cards/p1/decision", content=b"labels=", headers=same | {"content-type": "text/plain"}
                ),
            ]
            assert [r.status_code for r in refused] == [403, 403, 403, 403]
            assert read_feedback(settings, idle_s=2.0) == []

            # The same request from the console's own origin is taken, signed by the authenticated user.
            taken = alice.post(
                "api/cards/p1/decision", json={"labels": ["Racist"], "moderator_id": "mallory"}, headers=same
            )
            assert taken.status_code == 200, taken.text
            assert taken.json()["card"]["decision"]["moderator_id"] == "alice"
            bad = alice.post("api/cards/p1/decision", json={"labels": ["Nope"]}, headers=same)
            assert bad.status_code == 400
            unknown = alice.post("api/cards/zzz/decision", json={"labels": []}, headers=same)
            assert unknown.status_code == 404
            huge = alice.post(
                "api/cards/p1/decision",
                content=b'{"labels": [' + b'"x",' * 10_000 + b'"x"]}',
                headers=same | {"content-type": "application/json"},
            )
            assert huge.status_code == 400
        feedback = read_feedback(settings)
        assert [(f.post_id, f.labels, f.moderator_id, f.text) for f in feedback] == [
            ("p1", ["Racist"], "alice", "hello")
        ]


def test_thumbnails_go_through_the_fetch_policy(
    make_settings: Callable[..., Settings], images: ImageServer
) -> None:
    settings = make_settings()
    with canary() as trap, run_console(settings, users=USERS, allow_hosts=[images.host]) as console:
        posts = [
            Post(post_id="ok", text="a", image_url=images.url("/red.png")),
            Post(post_id="html", text="b", image_url=images.url("/page.html")),
            Post(post_id="private", text="c", image_url=trap.url("/secret.png", host="localhost")),
        ]
        publish(settings, posts=posts, results=[make_result(p.post_id, flagged=False) for p in posts])
        with httpx.Client(base_url=console.url, timeout=20, auth=("bob", "battery staple")) as bob:
            for post in posts:
                wait_for_card(bob, post.post_id)
                assert "url" not in str(bob.get("api/cards").json()).replace("image_url", "")
            ok = bob.get("thumb/ok")
            assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
            assert ok.content[:3] == b"\xff\xd8\xff" and ok.content != images.bytes_sent("/red.png")
            assert bob.get("thumb/ok").status_code == 200  # cached: the host is asked once
            html = bob.get("thumb/html")
            assert (html.status_code, html.headers["x-thumb-reason"]) == (404, "failed:not_image")
            private = bob.get("thumb/private")
            assert private.status_code == 404 and private.headers["x-thumb-reason"].startswith("blocked")
            assert bob.get("thumb/unknown").status_code == 404
        assert images.requests.count("/red.png") == 1
        assert trap.requests == []


@pytest.mark.parametrize(
    ("args", "users", "message"),
    [
        (["--no-auth", "--host", "0.0.0.0"], None, "loopback"),
        (["--no-auth", "--host", "0.0.0.0"], USERS, "loopback"),
        ([], None, "MODSTREAM_REVIEW__USERS"),
    ],
)
def test_refuses_to_start_open(
    make_settings: Callable[..., Settings], args: list[str], users: dict[str, str] | None, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modstream.cli", "review", "--port", "0", *args],
        env=console_env(make_settings(), users, []),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "REVIEW url=" not in done.stdout


def test_no_auth_serves_loopback_as_local(make_settings: Callable[..., Settings]) -> None:
    with run_console(make_settings(), users=None, extra_args=["--no-auth"]) as console:
        assert console.url.startswith("http://127.0.0.1:")
        me = httpx.get(console.url + "api/me", timeout=10)
        assert me.status_code == 200 and me.json()["moderator_id"] == "local"


def test_status_counts_what_the_feed_read_and_skipped(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    labels = {f"L{i}": 0.5 for i in range(100)}  # a valid Result, but no modstream model has 100 labels
    implausible = (
        make_result("s5", flagged=True).model_copy(update={"scores": labels}).model_dump_json().encode()
    )
    with run_console(settings, users=USERS) as console:
        publish(
            settings,
            posts=[Post(post_id="s1", text="hello")],
            results=[make_result("s1", flagged=False), make_result("s2", flagged=True)],
            raw=[
                (settings.topics.posts, b"\xff\xfe not json"),
                (settings.topics.results, b'{"post_id": "s3"}'),
                (settings.topics.results, b"[" * 100_000),
                (settings.topics.results, implausible),
            ],
        )
        with httpx.Client(base_url=console.url, timeout=10, auth=("alice", "correct horse")) as alice:
            status = read_all(alice, 7, what="the seven messages", timeout_s=30)
            assert status["feed"]["ready"] is True
            assert status["feed"]["skipped"] == {"not_utf8": 1, "schema": 2, "implausible": 1}, status
            assert status["feed"]["restarts"] == 0
            assert status["cards"] == 1  # s1 joined
            assert status["waiting"] == {"posts": 0, "results": 1}  # s2's post never came
