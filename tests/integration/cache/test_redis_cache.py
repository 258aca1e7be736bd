"""RedisCache against the real Redis: round trips, TTL, and an outage it survives and recovers from.

The outage is real: the cache talks to Redis through a TCP proxy that the test stops (connections
cut, port refusing) and starts again. Only the back-off clock is fake, so no test sleeps.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from consumer.cache import make_cache
from consumer.redis_cache import RedisCache
from events.settings import RedisSettings
from tests.integration.cache.tcp_proxy import TcpProxy
from tests.services import free_port


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique key namespace, deleted afterwards."""
    p = f"modstream-test:cache:{uuid.uuid4().hex[:10]}:"
    yield p
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=p + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(redis_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as p:
        yield p


def test_round_trip_through_pipelines(redis_url: str, prefix: str) -> None:
    cache = make_cache(RedisSettings(url=redis_url, ttl_s=120))
    assert isinstance(cache, RedisCache)
    items = [(f"{prefix}{i}", f'{{"post_id": "{i}"}}'.encode()) for i in range(200)]
    cache.set_many(items)
    keys = [k for k, _ in items]
    wanted = [*keys[:100], f"{prefix}missing", *keys[100:]]
    expected = [*[v for _, v in items[:100]], None, *[v for _, v in items[100:]]]
    assert cache.get_many(wanted) == expected
    client = redis.Redis.from_url(redis_url)
    ttl = client.ttl(keys[0])
    client.close()
    assert 0 < ttl <= 120
    cache.close()


def test_binary_values_are_opaque(redis_url: str, prefix: str) -> None:
    cache = make_cache(RedisSettings(url=redis_url))
    value = bytes(range(256)) * 4
    cache.set_many([(f"{prefix}bin", value)])
    assert cache.get_many([f"{prefix}bin"]) == [value]
    cache.close()


def test_closed_port_fails_open_fast(prefix: str) -> None:
    clock = FakeClock()
    errors: list[Exception] = []
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    cache = make_cache(
        RedisSettings(url=url, timeout_s=0.5, retry_after_s=5), clock=clock, on_error=errors.append
    )
    started = time.monotonic()
    assert cache.get_many([f"{prefix}a", f"{prefix}b"]) == [None, None]
    cache.set_many([(f"{prefix}a", b"1")])  # writes keep their own outage: tried once, refused at once
    cache.set_many([(f"{prefix}a", b"1")])  # inside the write back-off: not tried
    assert time.monotonic() - started < 1.0
    assert [type(e) for e in errors] == [redis.ConnectionError, redis.ConnectionError]
    cache.close()


def test_outage_then_recovery(proxy: TcpProxy, prefix: str) -> None:
    clock = FakeClock()
    errors: list[Exception] = []
    settings = RedisSettings(url=f"redis://127.0.0.1:{proxy.port}/0", timeout_s=0.5, retry_after_s=5)
    cache = make_cache(settings, clock=clock, on_error=errors.append)
    assert isinstance(cache, RedisCache)

    cache.set_many([(f"{prefix}before", b"1")])
    assert cache.get_many([f"{prefix}before"]) == [b"1"]

    proxy.stop()  # Redis "goes away": pooled connection cut, port refusing
    assert cache.get_many([f"{prefix}before"]) == [None]  # a miss, not an exception
    cache.set_many([(f"{prefix}during", b"2")])  # dropped quietly (writes fail on their own)
    assert len(errors) == 2 and not cache.available and not cache.writable

    proxy.start()  # Redis is back, but the cache waits out its back-off before trying
    clock.now += 4.0
    assert cache.get_many([f"{prefix}before"]) == [None]
    assert len(errors) == 2  # not even tried

    clock.now += 1.0  # back-off over: the next call reconnects and caching resumes
    assert cache.get_many([f"{prefix}before", f"{prefix}during"]) == [b"1", None]
    assert cache.available
    cache.set_many([(f"{prefix}after", b"3")])
    assert cache.get_many([f"{prefix}after"]) == [b"3"]
    assert len(errors) == 2 and cache.writable
    cache.close()
