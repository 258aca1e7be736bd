"""The in-process LRU + TTL cache, on a fake clock."""

from __future__ import annotations

import pytest

from consumer.cache import MemoryCache, make_cache
from events.settings import RedisSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_round_trip_in_order_with_misses() -> None:
    cache = MemoryCache(max_items=10, ttl_s=60, clock=FakeClock())
    cache.set_many([("a", b"1"), ("c", b"3")])
    assert cache.get_many(["a", "b", "c", "a"]) == [b"1", None, b"3", b"1"]
    assert cache.get_many([]) == []


def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_items=10, ttl_s=60, clock=clock)
    cache.set_many([("a", b"1")])
    clock.now += 59.9
    assert cache.get_many(["a"]) == [b"1"]
    clock.now += 0.1
    assert cache.get_many(["a"]) == [None]
    assert len(cache) == 0  # an expired entry is dropped when seen


def test_rewrite_refreshes_ttl_and_value() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_items=10, ttl_s=60, clock=clock)
    cache.set_many([("a", b"old")])
    clock.now += 50
    cache.set_many([("a", b"new")])
    clock.now += 50
    assert cache.get_many(["a"]) == [b"new"]


@pytest.mark.parametrize(
    ("ops", "expected_present"),
    [
        # (writes then reads in order; the capacity is 3)
        ([("set", "a"), ("set", "b"), ("set", "c"), ("set", "d")], {"b", "c", "d"}),  # oldest out
        ([("set", "a"), ("set", "b"), ("set", "c"), ("get", "a"), ("set", "d")], {"a", "c", "d"}),
        ([("set", "a"), ("set", "b"), ("set", "c"), ("set", "a"), ("set", "d")], {"a", "c", "d"}),
        ([("set", "a"), ("get", "zz"), ("set", "b")], {"a", "b"}),
    ],
)
def test_least_recently_used_is_evicted(ops: list[tuple[str, str]], expected_present: set[str]) -> None:
    cache = MemoryCache(max_items=3, ttl_s=60, clock=FakeClock())
    for op, key in ops:
        if op == "set":
            cache.set_many([(key, key.encode())])
        else:
            cache.get_many([key])
    keys = ["a", "b", "c", "d", "zz"]
    present = {k for k, v in zip(keys, cache.get_many(keys), strict=True) if v is not None}
    assert present == expected_present


def test_one_batch_larger_than_capacity_keeps_the_newest() -> None:
    cache = MemoryCache(max_items=2, ttl_s=60, clock=FakeClock())
    cache.set_many([("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert cache.get_many(["a", "b", "c"]) == [None, b"2", b"3"]


@pytest.mark.parametrize(("max_items", "ttl_s"), [(0, 60), (10, 0)])
def test_bad_bounds_are_refused(max_items: int, ttl_s: float) -> None:
    with pytest.raises(ValueError):
        MemoryCache(max_items=max_items, ttl_s=ttl_s)


def test_make_cache_memory_url_uses_settings() -> None:
    clock = FakeClock()
    cache = make_cache(RedisSettings(url="memory://", ttl_s=5, memory_max_items=1), clock=clock)
    assert isinstance(cache, MemoryCache)
    cache.set_many([("a", b"1"), ("b", b"2")])
    assert cache.get_many(["a", "b"]) == [None, b"2"]  # capacity 1 from settings
    clock.now += 5
    assert cache.get_many(["b"]) == [None]  # ttl 5 from settings
