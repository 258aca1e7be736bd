"""A Redis that drips its replies (a real Redis behind a proxy that forwards one byte every 50 ms) costs each
lookup at most its deadline, and an abandoned call leaves no half-read reply behind: once the drip stops,
lookups return the right values again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from consumer.redis_cache import RedisCache
from tests.integration.cache.tcp_proxy import TcpProxy

DEADLINE_S = 0.5
SLACK_S = 0.5  # thread scheduling on a loaded 2-core machine


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(redis_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as p:
        yield p


def test_a_dripping_redis_costs_each_lookup_at_most_its_deadline(redis_url: str, proxy: TcpProxy) -> None:
    prefix = f"modstream-test:drip:{uuid.uuid4().hex[:10]}:"
    direct = redis.Redis.from_url(redis_url)
    keys = [f"{prefix}{i}" for i in range(5)]
    values = [f'{{"post_id": "{i}", "pad": "{"x" * 64}"}}'.encode() for i in range(5)]
    direct.mset(dict(zip(keys, values, strict=True)))
    cache = RedisCache(
        f"redis://127.0.0.1:{proxy.port}/0", ttl_s=60, timeout_s=DEADLINE_S, retry_after_s=0.05
    )
    try:
        assert cache.get_many(keys) == values  # the connection is warm and works
        proxy.drip_s = 0.05  # a reply of ~450 bytes now takes ~22 s; every single read takes 50 ms
        durations = []
        for _ in range(12):
            started = time.monotonic()
            assert cache.get_many(keys) == [None] * len(keys)  # misses, never an exception
            durations.append(time.monotonic() - started)
            time.sleep(0.1)  # past the back-off, so the next lookup tries Redis again
        print(
            f"dripping Redis: lookup seconds max {max(durations):.3f}, all {[round(d, 3) for d in durations]}"
        )
        assert max(durations) <= DEADLINE_S + SLACK_S
        assert not cache.available

        proxy.drip_s = None
        deadline = time.monotonic() + 10
        while cache.get_many(keys) != values:  # the back-off ends and a fresh connection answers
            assert time.monotonic() < deadline, "lookups did not recover after the drip stopped"
            time.sleep(0.1)
        for _ in range(20):  # and keep answering right: no stale bytes from an abandoned reply
            assert cache.get_many(keys) == values
        assert cache.available
    finally:
        cache.close()
        direct.delete(*keys)
        direct.close()


def test_a_redis_that_refuses_writes_with_oom_still_serves_lookups(redis_url: str, proxy: TcpProxy) -> None:
    """A full Redis (maxmemory, noeviction) answers writes with OOM; the shared Redis is not reconfigured:
    the proxy answers every SET with Redis's own OOM error and passes the rest through."""
    prefix = f"modstream-test:oom:{uuid.uuid4().hex[:10]}:"
    direct = redis.Redis.from_url(redis_url)
    direct.set(f"{prefix}old", b"cached before Redis filled up")
    errors: list[Exception] = []
    cache = RedisCache(
        f"redis://127.0.0.1:{proxy.port}/0",
        ttl_s=60,
        timeout_s=DEADLINE_S,
        retry_after_s=0.05,
        on_error=errors.append,
    )
    try:
        proxy.refuse_writes = True
        for round_ in range(5):
            cache.set_many([(f"{prefix}new{round_}", b"x")])  # refused, never raised
            time.sleep(0.06)  # past the write back-off, so every round tries again
            assert cache.get_many([f"{prefix}old", f"{prefix}new{round_}"]) == [
                b"cached before Redis filled up",
                None,
            ]
        assert errors and all(isinstance(e, redis.exceptions.OutOfMemoryError) for e in errors)
        assert cache.available and not cache.writable  # reads healthy, writes in an outage
        assert direct.get(f"{prefix}new0") is None  # nothing was written

        proxy.refuse_writes = False
        time.sleep(0.06)
        cache.set_many([(f"{prefix}later", b"y")])
        assert cache.writable and cache.get_many([f"{prefix}later"]) == [b"y"]
    finally:
        cache.close()
        direct.delete(*direct.keys(prefix + "*"))
        direct.close()
