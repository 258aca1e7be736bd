"""The attacks of issue #9 on the result cache, on the real broker, Redis and a loopback image server: a
picture swapped behind a URL, a host allow-listed after a blocked result, values forged into Redis; and a
model that starts giving NaN mid-stream publishes none of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
import torch

from consumer.cache_codec import ResultCodec
from consumer.cache_keys import cache_key
from events.content import content_id, image_digest
from events.schemas import Result, encode
from events.settings import Settings
from tests.image_server import ImageServer, make_png
from tests.integration.consumer.conftest import (
    OutputReader,
    TinyModels,
    announce,
    create_topics,
    metric,
    post,
    produce,
    publish_version,
    running_consumer,
    wait_until,
)
from tests.services import REDIS_URL


def _one(reader: OutputReader, post_id: str, timeout_s: float = 60) -> Result:
    wait_until(lambda: any(r.post_id == post_id for r in reader.poll().results), timeout_s, post_id)
    return next(r for r in reader.outputs.results if r.post_id == post_id)


def _cached_keys(settings: Settings) -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=settings.redis.key_prefix + "*", count=1000))
    finally:
        client.close()


def _signing_key(settings: Settings) -> bytes:
    assert settings.redis.signing_key is not None
    return settings.redis.signing_key.get_secret_value().encode()


def test_a_picture_swapped_behind_its_url_is_fetched_and_scored_afresh(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    harmless, hateful = make_png((20, 200, 40), (40, 40)), make_png((230, 10, 10), (40, 40))
    image_server.add_bytes("/meme.png", harmless, "image/png")
    url = image_server.url("/meme.png")
    reader = outputs_of(settings)
    with running_consumer(settings):
        produce(settings, [post("before", text="look at this", image_url=url)])
        before = _one(reader, "before")
        wait_until(lambda: len(_cached_keys(settings)) == 1, 20, "the first result cached")
        image_server.add_bytes("/meme.png", hateful, "image/png")  # the swap
        produce(settings, [post("after", text="look at this", image_url=url)])
        after = _one(reader, "after")
    assert image_server.requests.count("/meme.png") == 2  # the host saw the second request
    assert (before.cached, after.cached) == (False, False)
    assert before.image_status == after.image_status == "ok"
    assert before.content_id == content_id("look at this", image_digest(harmless))
    assert after.content_id == content_id("look at this", image_digest(hateful))
    assert after.scores != before.scores  # a new verdict, from the new picture


def test_a_host_allow_listed_after_a_blocked_result_gets_its_image_scored(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    blocked_settings = consumer_settings(fetch={"allow_hosts": []})  # loopback: a private address
    create_topics(blocked_settings)
    publish_version(blocked_settings, tiny_models, "a")
    image_server.add_bytes("/cat.png", make_png((10, 10, 240)), "image/png")
    url = image_server.url("/cat.png")
    reader = outputs_of(blocked_settings)
    with running_consumer(blocked_settings):
        produce(blocked_settings, [post("while-blocked", text="my cat", image_url=url)])
        first = _one(reader, "while-blocked")
    assert first.image_status == "blocked" and not first.cached
    assert _cached_keys(blocked_settings) == []  # a blocked (text-only) score is never cached

    allowed = blocked_settings.model_copy(
        update={"fetch": blocked_settings.fetch.model_copy(update={"allow_hosts": [image_server.host]})}
    )
    with running_consumer(allowed):
        produce(allowed, [post("once-allowed", text="my cat", image_url=url)])
        second = _one(reader, "once-allowed")
    assert second.image_status == "ok" and not second.cached
    assert image_server.requests == ["/cat.png"]
    assert second.content_id != first.content_id


def _forged(version: str, text: str, labels: list[str], *, flagged: bool = False) -> bytes:
    scores = {label: 0.01 for label in labels}
    result = Result(
        post_id="forger",
        labels=[{"label": label, "score": 0.01} for label in labels[:3]],  # type: ignore[misc]
        scores=scores,
        flagged=flagged,
        model_version=version,
        image_status="absent",
        content_id=content_id(text, None),
    )
    return encode(result)


def test_values_forged_into_redis_are_not_published(
    consumer_settings: Callable[..., Settings], tiny_models: TinyModels, outputs_of: Callable
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    version = publish_version(settings, tiny_models, "a")
    labels = list(tiny_models.models["a"].config.labels)
    prefix = settings.redis.key_prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        # a valid-looking Result, written by anyone who can reach Redis: no signature
        client.set(
            cache_key(prefix, version, "unsigned forgery", None), _forged(version, "unsigned forgery", labels)
        )
        # signed with the right key (say, leaked), but for another model's label set
        key = cache_key(prefix, version, "other labels", None)
        other = ["Benign", "Spam", "Scam", "Nudity", "Violence", "Drugs"]
        client.set(
            key, ResultCodec(_signing_key(settings)).seal(key, _forged(version, "other labels", other))
        )
        # a genuine-looking frame whose HMAC is made up
        key = cache_key(prefix, version, "made-up mac", None)
        client.set(key, b"ms1:" + b"a" * 64 + b":" + _forged(version, "made-up mac", labels))
    finally:
        client.close()
    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        texts = ["unsigned forgery", "other labels", "made-up mac"]
        produce(settings, [post(f"p{i}", text=text) for i, text in enumerate(texts)])
        results = [_one(reader, f"p{i}") for i in range(len(texts))]
        rejected = {
            reason: metric(service, "modstream_cache_rejected_total", {"reason": reason})
            for reason in ("unsigned", "labels", "bad_signature")
        }
    assert rejected == {"unsigned": 1, "labels": 1, "bad_signature": 1}
    for text, result in zip(texts, results, strict=True):
        assert not result.cached and result.model_version == version  # scored, not the forgery
        assert set(result.scores) == set(labels) and result.content_id == content_id(text, None)
        assert all(score != 0.01 for score in result.scores.values())


def test_a_repost_under_another_url_is_a_cache_hit_with_the_same_content_id(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    picture = make_png((120, 60, 200), (36, 36))
    image_server.add_bytes("/original.png", picture, "image/png")
    image_server.add_bytes("/mirror/copy.png", picture, "image/png")
    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        produce(settings, [post("first", text="viral", image_url=image_server.url("/original.png"))])
        first = _one(reader, "first")
        wait_until(lambda: len(_cached_keys(settings)) == 1, 20, "the first result cached")
        produce(settings, [post("repost", text="viral", image_url=image_server.url("/mirror/copy.png"))])
        repost = _one(reader, "repost")
        assert metric(service, "modstream_cache_lookups_total", {"outcome": "hit"}) == 1
    assert image_server.requests == ["/original.png", "/mirror/copy.png"]
    assert not first.cached and repost.cached
    assert repost.content_id == first.content_id == content_id("viral", image_digest(picture))
    assert repost.scores == first.scores


def _red_images_give_nan(predictor: Any) -> None:
    """A fault injected after load (the smoke test would refuse a model that fails on every image): the
    image tower returns NaN for images that are mostly red, and sound features for the rest."""
    tower = predictor.model.image_encoder
    original = tower.forward

    def faulty(images: torch.Tensor) -> torch.Tensor:
        feats = original(images).clone()
        x = images.float()
        red = (x[:, 0].mean((1, 2)) - x[:, 2].mean((1, 2))) > 0.5 * x.abs().mean((1, 2, 3))
        feats[red] = float("nan")
        return feats

    tower.forward = faulty


def test_a_model_that_turns_non_finite_mid_stream_publishes_none_of_it(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from model.predictor import Predictor

    settings = consumer_settings()
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    load = Predictor.load
    faulty_version: list[str] = []

    def load_with_fault(directory: Any, device: str = "auto") -> Predictor:
        predictor = load(directory, device)
        if predictor.version in faulty_version:
            _red_images_give_nan(predictor)
        return predictor

    monkeypatch.setattr(Predictor, "load", staticmethod(load_with_fault))
    for i in range(6):
        colour = (240, 20, 20) if i % 2 == 0 else (20, 20, 240)
        image_server.add_bytes(f"/img/{i}.png", make_png(colour, (32 + i, 32)), "image/png")
    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        produce(settings, [post("warm", text="before the swap")])
        _one(reader, "warm")
        version_b = "broken-b"
        faulty_version.append(version_b)
        publish_version(settings, tiny_models, "b", version=version_b)
        announce(settings, version_b)
        wait_until(
            lambda: metric(service, "modstream_model_version", {"version": version_b}) == 1, 30, "swap"
        )
        posts = [
            post(f"img-{i}", text=f"caption {i}", image_url=image_server.url(f"/img/{i}.png"))
            for i in range(6)
        ]
        produce(
            settings,
            [*posts, post("img-only-red", image_url=image_server.url("/img/0.png")), post("txt", text="hi")],
        )
        outputs = reader.wait_for(1 + 8, 60)
        non_finite = metric(service, "modstream_non_finite_predictions_total")
    by_post = outputs.by_post()
    dead = outputs.dead_by_key()
    red = ["img-0", "img-2", "img-4", "img-only-red"]
    for post_id in red:
        assert post_id not in by_post, f"{post_id} was published"
        [letter] = dead[post_id]
        assert (letter.headers["stage"], letter.headers["error.type"]) == ("model", "non_finite")
    for post_id in ["img-1", "img-3", "img-5", "txt"]:
        [result] = by_post[post_id]
        assert result.model_version == version_b and not result.cached
    assert non_finite == len(red)
    cached = _cached_keys(settings)
    assert len(cached) == 1 + 4  # the warm-up and the four sound posts; no key for any red one


def test_the_opt_in_url_shortcut_answers_a_listed_host_before_the_fetch(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    """An immutable-URL host named in url_keyed_hosts: the repost of a URL is a hit with no request."""
    settings = consumer_settings(redis={"url_keyed_hosts": [image_server.host]})
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    picture = make_png((90, 90, 30), (30, 30))
    image_server.add_bytes("/cdn/3f9a.png", picture, "image/png")
    url = image_server.url("/cdn/3f9a.png")
    reader = outputs_of(settings)
    with running_consumer(settings):
        produce(settings, [post("first", text="immutable", image_url=url)])
        first = _one(reader, "first")
        wait_until(lambda: len(_cached_keys(settings)) == 2, 20, "content and URL entries")
        produce(settings, [post("again", text="immutable", image_url=url)])
        again = _one(reader, "again")
    assert image_server.requests == ["/cdn/3f9a.png"]  # the shortcut fetched nothing
    assert again.cached and again.content_id == first.content_id == content_id(
        "immutable", image_digest(picture)
    )
