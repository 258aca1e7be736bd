"""A Redis that drips its replies, in front of the running consumer: each lookup costs at most its deadline
(measured by modstream_cache_lookup_seconds), every post is scored, and once the drip stops the cache is
written and read again."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis

from events.settings import Settings
from tests.integration.cache.tcp_proxy import TcpProxy
from tests.integration.consumer.conftest import (
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

DEADLINE_S = 0.5
N_POSTS = 200


def test_a_dripping_redis_costs_each_lookup_its_deadline_at_most_and_posts_keep_flowing(
    consumer_settings: Callable[..., Settings], tiny_models: TinyModels, outputs_of: Callable
) -> None:
    parts = urlsplit(REDIS_URL)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        proxy.drip_s = 0.05  # from the first byte: every reply trickles, one byte per 50 ms
        settings = consumer_settings(
            redis={"url": f"redis://127.0.0.1:{proxy.port}/0", "timeout_s": DEADLINE_S, "retry_after_s": 0.2},
            consumer={"poll_batch": 8},  # many lookups, each a real attempt once the short back-off ends
        )
        create_topics(settings)
        publish_version(settings, tiny_models, "a")
        reader = outputs_of(settings)
        with running_consumer(settings) as service:
            wait_until(service.ready, 60, "the consumer to be ready")
            started = time.monotonic()
            for wave in range(0, N_POSTS, 10):  # in waves over ~6 s, so lookups keep meeting the drip
                produce(settings, [post(f"drip-{i}", text=f"dripping {i}") for i in range(wave, wave + 10)])
                time.sleep(0.3)
            wait_until(lambda: len(reader.poll().results) >= N_POSTS, 120, "every post scored")
            took = time.monotonic() - started
            lookups = metric(service, "modstream_cache_lookup_seconds_count")
            within = metric(service, "modstream_cache_lookup_seconds_bucket", {"le": "1.0"})
            slow = lookups - metric(service, "modstream_cache_lookup_seconds_bucket", {"le": "0.25"})
            total_s = metric(service, "modstream_cache_lookup_seconds_sum")
            errors = metric(service, "modstream_cache_errors_total")
            mean = total_s / max(lookups, 1)
            print(
                f"dripping Redis: {N_POSTS} posts scored in {took:.1f} s; {lookups:.0f} lookups, "
                f"mean {mean:.3f} s, {slow:.0f} over 0.25 s, {within:.0f} within 1.0 s; "
                f"{errors:.0f} cache errors"
            )
            assert slow >= 2, "the drip rarely cost a lookup anything: nothing was tested"
            assert lookups > 0 and within == lookups  # no lookup took longer than deadline + 0.5 s slack
            assert {r.post_id for r in reader.outputs.results} == {f"drip-{i}" for i in range(N_POSTS)}

            proxy.drip_s = None  # Redis answers normally again: writes land, and lookups hit them
            time.sleep(0.5)  # past the back-off of both directions
            produce(settings, [post(f"fresh-{i}", text=f"fresh {i}") for i in range(20)])
            wait_until(
                lambda: sum(r.post_id.startswith("fresh-") for r in reader.poll().results) >= 20, 60, "fresh"
            )
            wait_until(lambda: _cached_keys(settings) >= 20, 30, "the fresh results written to Redis")
            produce(settings, [post(f"again-{i}", text=f"fresh {i}") for i in range(20)])
            wait_until(
                lambda: sum(r.post_id.startswith("again-") for r in reader.poll().results) >= 20, 60, "again"
            )
            assert all(r.cached for r in reader.outputs.results if r.post_id.startswith("again-"))


def _cached_keys(settings: Settings) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter(match=settings.redis.key_prefix + "*", count=1000))
    finally:
        client.close()
