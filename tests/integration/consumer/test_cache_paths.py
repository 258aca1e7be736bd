"""The result cache in the running consumer: a second pass is served from Redis without scoring (images are
fetched again: the key is their bytes' digest), and Redis going away (a real outage, through a TCP proxy)
neither stops scoring nor keeps the cache off."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import redis

from events.settings import Settings
from tests.image_server import ImageServer, make_png
from tests.integration.cache.tcp_proxy import TcpProxy
from tests.integration.consumer.conftest import (
    OutputReader,
    TinyModels,
    create_topics,
    metric,
    post,
    produce,
    publish_version,
    running_consumer,
    wait_until,
)
from tests.services import REDIS_URL


def _cached_keys(settings: Settings) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter(match=settings.redis.key_prefix + "*", count=1000))
    finally:
        client.close()


def _wave(prefix: str, n: int, contents: Sequence[tuple[str | None, str | None]] | None = None) -> list:
    contents = contents or [(f"{prefix} text {i}", None) for i in range(n)]
    return [post(f"{prefix}-{i}", text=text, image_url=url) for i, (text, url) in enumerate(contents)]


def _new_results(reader: OutputReader, prefix: str, n: int) -> dict:
    wait_until(
        lambda: sum(r.post_id.startswith(prefix + "-") for r in reader.poll().results) >= n,
        60,
        f"{n} {prefix}",
    )
    return {r.post_id: r for r in reader.outputs.results if r.post_id.startswith(prefix + "-")}


def test_second_pass_is_served_from_the_cache_without_scoring(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    version = publish_version(settings, tiny_models, "a")
    contents: list[tuple[str | None, str | None]] = []
    for i in range(40):
        image_server.add_bytes(f"/img/{i}.png", make_png((i * 5, 100, 200), (16 + i, 16)), "image/png")
        contents.append((f"text and image {i}" if i % 4 else None, image_server.url(f"/img/{i}.png")))
    contents += [(f"text only {i}", None) for i in range(20)]

    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        produce(settings, _wave("first", 0, contents))
        first = _new_results(reader, "first", len(contents))
        assert not any(r.cached for r in first.values())
        wait_until(lambda: _cached_keys(settings) == len(contents), 20, "every result cached")
        fetched = len(image_server.requests)
        assert fetched == 40
        scored = metric(service, "modstream_batch_size_sum")

        produce(settings, _wave("again", 0, contents))
        again = _new_results(reader, "again", len(contents))
        assert metric(service, "modstream_cache_lookups_total", {"outcome": "hit"}) == len(contents)
        assert metric(service, "modstream_batch_size_sum") == scored  # no post of the second pass scored
    # every image fetched again (what is cached is the bytes' digest, not the URL), none scored again
    assert len(image_server.requests) == 2 * fetched
    for i in range(len(contents)):
        a, b = first[f"first-{i}"], again[f"again-{i}"]
        assert b.cached and b.post_id == f"again-{i}" and b.model_version == version
        assert a.content_id is not None and b.content_id == a.content_id
        assert b.scores == a.scores and b.labels == a.labels and b.image_status == a.image_status
        assert b.processed_at >= a.processed_at


def test_redis_outage_keeps_scoring_and_caching_resumes(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    outputs_of: Callable,
) -> None:
    with TcpProxy("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])) as proxy:
        settings = consumer_settings(
            redis={"url": f"redis://127.0.0.1:{proxy.port}/0", "timeout_s": 0.3, "retry_after_s": 0.5}
        )
        create_topics(settings)
        publish_version(settings, tiny_models, "a")
        reader = outputs_of(settings)
        n = 30
        with running_consumer(settings) as service:
            produce(settings, _wave("up", n))
            _new_results(reader, "up", n)
            wait_until(lambda: _cached_keys(settings) == n, 20, "wave 'up' cached")

            proxy.stop()  # Redis goes away
            produce(settings, _wave("down", n))
            down = _new_results(reader, "down", n)  # scoring continues
            same = [(f"up text {i}", None) for i in range(n)]
            produce(settings, _wave("down-again", 0, same))
            down_again = _new_results(reader, "down-again", n)  # no cache: scored again
            assert not any(r.cached for r in [*down.values(), *down_again.values()])
            assert metric(service, "modstream_cache_errors_total") >= 1
            assert _cached_keys(settings) == n  # nothing written while down

            proxy.start()  # Redis is back
            wait_until(lambda: _retry_wave(settings, reader) >= 1, 30, "a cache hit once Redis answers again")
            produce(settings, _wave("back", n))
            _new_results(reader, "back", n)
            wait_until(lambda: _cached_keys(settings) >= 2 * n, 20, "wave 'back' cached")


_probes = itertools.count()


def _retry_wave(settings: Settings, reader: OutputReader) -> int:
    """Send one post whose content was cached before the outage; count the cached results it got."""
    prefix = f"probe{next(_probes)}"
    produce(settings, _wave(prefix, 0, [("up text 0", None)]))
    results = _new_results(reader, prefix, 1)
    return sum(r.cached for r in results.values())
