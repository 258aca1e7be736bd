"""1,000 posts through the real broker, Redis and a loopback image server: one outcome each, and the scores
are the predictor's own."""

from __future__ import annotations

import argparse
import collections
import urllib.request
from collections.abc import Callable

from consumer import check
from events.settings import Settings
from tests.image_server import ImageServer, make_jpeg, make_png
from tests.integration.consumer.conftest import (
    TinyModels,
    create_topics,
    load_predictor,
    metric,
    post,
    produce,
    publish_version,
    running_consumer,
)

N_POSTS = 1000
BAD = [  # (raw value, expected error.type); every tenth post is one of these
    (b'{"post_id": "x", "text": ', "not_json"),
    (b'{"text": "no post id"}', "schema"),
    (b'{"post_id": 12345, "text": "numeric id"}', "schema"),
    (b'{"post_id": "nul", "text": "a\\u0000b"}', "schema"),
    (b'{"post_id": "utf", "text": "\xff\xfe"}', "not_utf8"),
]


def _images() -> list[tuple[bytes, str]]:
    colours = ["red", "green", "blue", "white", "black", "yellow", "purple", "orange", "grey", "pink"]
    return [
        (make_png(c, (24 + 8 * i, 32)), "image/png")
        if i % 2
        else (make_jpeg(c, (40, 24 + 4 * i)), "image/jpeg")
        for i, c in enumerate(colours)
    ]


def test_thousand_posts_one_outcome_each_with_the_predictors_scores(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    settings = consumer_settings(
        batch={"max_size": 32, "max_wait_ms": 10},
        consumer={"max_in_flight": 100, "poll_batch": 50},
        # the image server plays the platform's own CDN: one host serving 600 images in a burst
        fetch={"max_in_flight": 50, "trusted_hosts": [image_server.host]},
    )
    create_topics(settings)
    version = publish_version(settings, tiny_models, "a")
    images = _images()
    items: list[tuple[str | None, bytes | None]] = []
    expected: dict[str, tuple[str | None, bytes | None]] = {}  # post_id -> what the predictor should see
    bad: dict[str, tuple[bytes, str]] = {}
    for i in range(N_POSTS):
        pid = f"post-{i}"
        kind = i % 10
        body, ctype = images[i % len(images)]
        if kind == 9:
            raw, error_type = BAD[(i // 10) % len(BAD)]
            items.append((pid, raw))
            bad[pid] = (raw, error_type)
            continue
        text = f"post number {i}: " + " ".join(["words"] * (i % 37)) if kind not in (4, 5) else None
        url = None
        if kind >= 4:
            image_server.add_bytes(f"/img/{i}", body, ctype)
            url = image_server.url(f"/img/{i}")
        items.append(post(pid, text=text, image_url=url))
        expected[pid] = (text, body if url else None)
    produce(settings, items)

    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        outputs = reader.wait_for(N_POSTS, timeout_s=180)
        assert metric(service, "modstream_consumed_total") == N_POSTS
        # backpressure: intake waited at the bounds (held; a healthy pipeline is never paused), never
        # more in flight than the bound and the posts waiting for their image (their own bound)
        assert metric(service, "modstream_intake_holds_total") >= 1
        assert service.peak_in_flight <= 100 + 50
        assert service.images.peak <= 50 + 50
        # operations: readiness through `modstream check`, metrics over HTTP
        readyz = f"http://127.0.0.1:{service.health_port}/readyz"
        assert check.run(argparse.Namespace(url=readyz, timeout=2.0)) == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{service.health_port}/metrics", timeout=2) as response:
            body = response.read().decode()
        for name in (
            "modstream_published_total",
            "modstream_dead_letters_total",
            "modstream_batch_size",
            "modstream_inference_seconds",
            "modstream_fetch_seconds",
            "modstream_end_to_end_seconds",
            "modstream_model_version",
            "modstream_lag",
            "modstream_in_flight",
        ):
            assert name in body, name
    assert check.run(argparse.Namespace(url=readyz, timeout=2.0)) == 1  # stopped: not ready

    # exactly one outcome per post
    results = outputs.by_post()
    dead = outputs.dead_by_key()
    assert len(outputs.results) + len(outputs.dead) == N_POSTS
    assert set(results) == set(expected)
    assert set(dead) == set(bad)
    assert all(len(v) == 1 for v in results.values()) and all(len(v) == 1 for v in dead.values())

    # dead letters: the original bytes and key, with headers saying why
    for pid, (raw, error_type) in bad.items():
        letter = dead[pid][0]
        assert letter.value == raw and letter.key == pid.encode()
        assert letter.headers["stage"] == "decode" and letter.headers["error.type"] == error_type
        assert letter.headers["source.topic"] == settings.topics.posts

    # the scores are the predictor's, for the same inputs
    predictor = load_predictor(settings, version)
    ids = sorted(expected)
    repeats = collections.Counter(expected.values())
    predictions = []
    for start in range(0, len(ids), 64):
        predictions += predictor.predict([expected[pid] for pid in ids[start : start + 64]])
    for pid, prediction in zip(ids, predictions, strict=True):
        result = results[pid][0]
        text, image = expected[pid]
        assert result.model_version == version
        # results are keyed by content: only a repeat of an earlier post's text and image bytes is a hit
        assert not result.cached or repeats[(text, image)] > 1, pid
        assert result.image_status == ("ok" if image is not None else "absent"), pid
        assert result.scores.keys() == prediction.scores.keys()
        for label, score in prediction.scores.items():
            assert abs(result.scores[label] - score) <= 1e-5, (pid, label, result.scores[label], score)
        assert [x.label for x in result.labels] == [label for label, _ in prediction.top]
        assert [x.score for x in result.labels] == sorted((x.score for x in result.labels), reverse=True)
        assert len(result.labels) == 3
        assert result.flagged == prediction.flagged
