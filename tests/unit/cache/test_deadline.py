"""Every cache call has a total deadline: a call that takes longer is abandoned at the deadline, its
connection is cut, and nothing queues behind it. A stand-in client that blocks stands for a Redis that
drips its reply (the real one, through a dripping proxy, is in tests/integration/cache)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from consumer.deadline import Busy, DeadlineCaller, DeadlineExceeded
from consumer.redis_cache import RedisCache


def test_a_call_within_its_deadline_returns_its_value_or_its_error() -> None:
    caller = DeadlineCaller("t")
    assert caller.call(lambda: 42, deadline_s=1.0) == 42
    with pytest.raises(ZeroDivisionError):
        caller.call(lambda: 1 / 0, deadline_s=1.0)
    caller.close()


def test_a_stuck_call_is_abandoned_at_its_deadline_and_the_next_fails_fast_until_it_returns() -> None:
    release, abandoned = threading.Event(), threading.Event()
    caller = DeadlineCaller("t", on_abandon=abandoned.set)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        caller.call(release.wait, deadline_s=0.2)
    took = time.monotonic() - started
    assert 0.2 <= took < 0.7 and abandoned.is_set()
    started = time.monotonic()
    with pytest.raises(Busy):
        caller.call(lambda: 1, deadline_s=5.0)  # the stuck call still holds the worker
    assert time.monotonic() - started < 0.1
    release.set()  # the stuck call returns (in real life: its connection was cut)
    time.sleep(0.05)
    assert caller.call(lambda: 2, deadline_s=1.0) == 2
    caller.close()


class BlockingClient:
    """MGET blocks until released or its connection is cut, like a dripping Redis."""

    def __init__(self) -> None:
        self.cut = threading.Event()
        self.connection_pool = self

    def disconnect(self) -> None:
        self.cut.set()

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        self.cut.wait(30)
        raise ConnectionError("connection cut")

    def close(self) -> None: ...


def test_a_lookup_never_outlasts_its_deadline_and_the_outage_then_skips_redis() -> None:
    client = BlockingClient()
    errors: list[Exception] = []
    cache = RedisCache(
        "redis://x", ttl_s=60, timeout_s=0.3, retry_after_s=5.0, client=client, on_error=errors.append
    )
    durations = []
    for _ in range(5):
        started = time.monotonic()
        assert cache.get_many(["a", "b"]) == [None, None]
        durations.append(time.monotonic() - started)
    print("lookup durations (s):", [round(d, 3) for d in durations])
    assert durations[0] < 0.3 + 0.4  # the deadline, plus scheduling slack on a busy machine
    assert max(durations[1:]) < 0.05  # in the back-off: not even tried
    assert client.cut.is_set()  # the abandoned call's connection was cut
    assert len(errors) == 1 and not cache.available and cache.writable
    cache.close()
