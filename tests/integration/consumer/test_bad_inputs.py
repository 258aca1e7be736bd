"""A corpus of bad inputs, each with the outcome the design specifies; the consumer never crashes, and a
canary server that is not allow-listed sees zero requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from events.settings import Settings
from tests.image_server import (
    ImageServer,
    canary,
    make_bomb_png,
    make_gif,
    make_html,
    make_png,
    make_truncated_jpeg,
)
from tests.integration.consumer.conftest import (
    TinyModels,
    create_topics,
    metric,
    post,
    produce,
    publish_version,
    running_consumer,
)
from tests.services import free_port

MAX_BYTES = 200_000


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes | None  # the message value, exactly as produced
    dlq: tuple[str, str | None] | None = None  # (stage, error.type or None = any)
    image_status: str | None = None  # for a result


def _json(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def _corpus(server: ImageServer, trap: ImageServer, closed_port: int) -> list[Case]:
    s, t = server, trap.port
    server.add_status("/404", 404)
    server.add_status("/500", 500)
    server.add_hang("/hang")
    server.add_slow_drip("/drip", make_png("red", (64, 64)), bytes_per_chunk=16, delay_s=0.3)
    server.add_huge("/huge", MAX_BYTES * 5)
    server.add_bytes("/png-as-text", make_png("blue"), "text/plain")
    server.add_bytes("/html-as-jpeg", make_html(), "image/jpeg")
    server.add_bytes("/truncated", make_truncated_jpeg(), "image/jpeg")
    server.add_bytes("/bomb", make_bomb_png(), "image/png")
    server.add_bytes("/gif", make_gif(), "image/gif")
    server.add_redirect("/loop", "/loop")
    server.add_redirect("/to-loopback", trap.url("/stolen"))
    server.add_redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/")

    def text_and(url: str) -> bytes:
        return _json(post_id="x", text="some words", image_url=url)

    def only(url: str) -> bytes:
        return _json(post_id="x", image_url=url)

    decode = "decode"
    return [
        # not a post at all: dead letter at the decode stage
        Case("malformed json", b'{"post_id": "x", "text": "unfinished', dlq=(decode, "not_json")),
        Case("json array", b'["post_id", "x"]', dlq=(decode, "not_object")),
        Case("json null", b"null", dlq=(decode, "not_object")),
        Case("json string", b'"just a string"', dlq=(decode, "not_object")),
        Case("empty value", None, dlq=(decode, "empty")),
        Case("post_id a number", _json(post_id=7, text="x"), dlq=(decode, "schema")),
        Case("text a list", _json(post_id="x", text=["a", "b"]), dlq=(decode, "schema")),
        Case("image_url a number", _json(post_id="x", image_url=42), dlq=(decode, "schema")),
        Case("no post_id", _json(text="hello"), dlq=(decode, "schema")),
        Case("empty post_id", _json(post_id="", text="hello"), dlq=(decode, "schema")),
        Case("post_id too long", _json(post_id="p" * 300, text="hello"), dlq=(decode, "schema")),
        Case("no content", _json(post_id="x"), dlq=(decode, "schema")),
        Case("blank content", _json(post_id="x", text="   ", image_url=""), dlq=(decode, "schema")),
        Case("huge text", _json(post_id="x", text="word " * 10_000), dlq=(decode, "schema")),
        Case("NUL byte", _json(post_id="x", text="a\x00b"), dlq=(decode, "schema")),
        Case("invalid UTF-8", b'{"post_id": "x", "text": "\xc3\x28"}', dlq=(decode, "not_utf8")),
        Case(
            "URL too long",
            _json(post_id="x", text="a", image_url="http://e.com/" + "a" * 3000),
            dlq=(decode, "schema"),
        ),
        # the image fails: scored text-only with image_status "failed"
        Case("404", text_and(s.url("/404")), image_status="failed"),
        Case("500", text_and(s.url("/500")), image_status="failed"),
        Case("timeout", text_and(s.url("/hang")), image_status="failed"),
        Case("slow drip", text_and(s.url("/drip")), image_status="failed"),
        Case("oversized body", text_and(s.url("/huge")), image_status="failed"),
        Case("HTML served as JPEG", text_and(s.url("/html-as-jpeg")), image_status="failed"),
        Case("truncated JPEG", text_and(s.url("/truncated")), image_status="failed"),
        Case("decompression bomb", text_and(s.url("/bomb")), image_status="failed"),
        Case("redirect loop", text_and(s.url("/loop")), image_status="failed"),
        Case(
            "connection refused (allow-listed)",
            text_and(f"http://127.0.0.1:{closed_port}/x.png"),
            image_status="failed",
        ),
        # refused by the fetch policy: scored text-only with image_status "blocked"
        Case("redirect to loopback", text_and(s.url("/to-loopback")), image_status="blocked"),
        Case("redirect to metadata", text_and(s.url("/to-metadata")), image_status="blocked"),
        Case("169.254.169.254", text_and("http://169.254.169.254/latest/meta-data/"), image_status="blocked"),
        Case("file://", text_and("file:///etc/passwd"), image_status="blocked"),
        Case("ftp://", text_and("ftp://example.com/cat.png"), image_status="blocked"),
        Case("javascript:", text_and("javascript:alert(1)"), image_status="blocked"),
        Case("loopback, other port", text_and(f"http://127.0.0.1:{t}/x.png"), image_status="blocked"),
        Case("IPv6 loopback", text_and(f"http://[::1]:{t}/x.png"), image_status="blocked"),
        Case(
            "IPv4-mapped IPv6 loopback",
            text_and(f"http://[::ffff:127.0.0.1]:{t}/x.png"),
            image_status="blocked",
        ),
        Case("name resolving to 127.0.0.1", text_and(f"http://localhost:{t}/x.png"), image_status="blocked"),
        Case("unspecified 0.0.0.0", text_and(f"http://0.0.0.0:{t}/x.png"), image_status="blocked"),
        Case("private 10/8", text_and("http://10.0.0.1/x.png"), image_status="blocked"),
        Case("decimal loopback", text_and(f"http://2130706433:{t}/x.png"), image_status="blocked"),
        # image-only posts whose image cannot be had: dead letter at the fetch or decode stage
        Case("image-only 404", only(s.url("/404")), dlq=("fetch", "http_404")),
        Case("image-only blocked", only("http://169.254.169.254/x.png"), dlq=("fetch", "private_address")),
        Case("image-only file://", only("file:///etc/passwd"), dlq=("fetch", "scheme")),
        Case("image-only HTML", only(s.url("/html-as-jpeg")), dlq=("fetch", "not_image")),
        Case("image-only truncated", only(s.url("/truncated")), dlq=("decode", "undecodable")),
        Case("image-only bomb", only(s.url("/bomb")), dlq=("decode", "bomb")),
        # controls: still fine
        Case("PNG served as text/plain (sniffed)", text_and(s.url("/png-as-text")), image_status="ok"),
        Case("GIF", only(s.url("/gif")), image_status="ok"),
        Case("text only", _json(post_id="x", text="a perfectly normal post"), image_status="absent"),
    ]


def _with_post_id(raw: bytes | None, pid: str) -> bytes | None:
    """Give a well-formed post its own post_id (the key), leaving every malformed one byte-for-byte."""
    if raw is None:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(body, dict) and body.get("post_id") == "x":
        body["post_id"] = pid
        return json.dumps(body).encode()
    return raw


def test_every_bad_input_is_handled_as_specified(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    with canary() as trap:
        closed_port = free_port()  # allow-listed, nothing listens: a real connection refused
        settings = consumer_settings(
            fetch={"max_bytes": MAX_BYTES, "allow_hosts": [image_server.host, f"127.0.0.1:{closed_port}"]}
        )
        create_topics(settings)
        publish_version(settings, tiny_models, "a")
        cases = _corpus(image_server, trap, closed_port)
        assert len(cases) >= 30
        by_key = {f"case-{i}": case for i, case in enumerate(cases)}
        produce(settings, [(key, _with_post_id(case.raw, key)) for key, case in by_key.items()])

        reader = outputs_of(settings)
        with running_consumer(settings) as service:
            outputs = reader.wait_for(len(cases), timeout_s=90, settle_s=2.0)
            # still alive and scoring after all of it
            produce(settings, [post("after-the-storm", text="still here")])
            reader.wait_for(len(cases) + 1, timeout_s=30)
            assert service.ready() and service.exit_code == 0
            assert metric(service, "modstream_consumed_total") == len(cases) + 1
        assert service.exit_code == 0
        assert trap.requests == []

    results = outputs.by_post()
    dead = outputs.dead_by_key()
    problems = []
    for key, case in by_key.items():
        got_results, got_dead = results.get(key, []), dead.get(key, [])
        if len(got_results) + len(got_dead) != 1:
            problems.append(f"{case.name}: {len(got_results)} results, {len(got_dead)} dead letters")
        elif case.dlq is not None:
            if not got_dead:
                problems.append(f"{case.name}: expected a dead letter, got {got_results[0].image_status}")
                continue
            letter = got_dead[0]
            stage, error_type = case.dlq
            if letter.headers.get("stage") != stage or (
                error_type and letter.headers.get("error.type") != error_type
            ):
                problems.append(
                    f"{case.name}: dead letter {letter.headers.get('stage')}/"
                    f"{letter.headers.get('error.type')}, expected {stage}/{error_type}"
                )
            if letter.value != _with_post_id(case.raw, key):
                problems.append(f"{case.name}: dead letter bytes changed")
        else:
            if not got_results:
                problems.append(
                    f"{case.name}: expected {case.image_status}, got dead letter {got_dead[0].headers}"
                )
            elif got_results[0].image_status != case.image_status:
                problems.append(
                    f"{case.name}: image_status {got_results[0].image_status}, expected {case.image_status}"
                )
    assert not problems, "\n".join(problems)
