"""RedisCache's fail-open bookkeeping, with a scripted stand-in client and a fake clock.

Only the decisions are tested here (what is tried, when, what is returned and reported); the
real Redis round trips and a real outage are in tests/integration/cache.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
import redis

from consumer.redis_cache import Outage, RedisCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedClient:
    """Records calls; raises while `down` is set; answers MGET from `store`."""

    def __init__(self) -> None:
        self.down = False
        self.refuse_reads = False
        self.refuse_writes: Exception | None = None
        self.store: dict[str, bytes] = {}
        self.calls: list[str] = []

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        self.calls.append("mget")
        if self.down or self.refuse_reads:
            raise redis.ConnectionError("Connection refused")
        return [self.store.get(k) for k in keys]

    def pipeline(self, transaction: bool = True) -> Any:
        assert transaction is False  # plain pipelining, no MULTI/EXEC
        client = self

        class Pipe:
            def __init__(self) -> None:
                self.queued: list[tuple[str, bytes, int]] = []

            def set(self, key: str, value: bytes, ex: int) -> None:
                self.queued.append((key, value, ex))

            def execute(self) -> None:
                client.calls.append(f"pipeline:{len(self.queued)}")
                if client.down:
                    raise redis.TimeoutError("Timeout reading from socket")
                if client.refuse_writes is not None:
                    raise client.refuse_writes
                client.store.update({k: v for k, v, _ in self.queued})

        return Pipe()

    def close(self) -> None:
        self.calls.append("close")


def _cache(retry_after_s: float = 5.0) -> tuple[RedisCache, ScriptedClient, FakeClock, list[Exception]]:
    clock, client = FakeClock(), ScriptedClient()
    errors: list[Exception] = []
    cache = RedisCache(
        "redis://:secret@example:6379/0",
        ttl_s=60,
        timeout_s=0.5,
        retry_after_s=retry_after_s,
        clock=clock,
        on_error=errors.append,
        client=client,
    )
    return cache, client, clock, errors


def test_one_round_trip_per_batch_each_way() -> None:
    cache, client, _, _ = _cache()
    cache.set_many([("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert cache.get_many(["a", "x", "c"]) == [b"1", None, b"3"]
    assert client.calls == ["pipeline:3", "mget"]


def test_empty_batches_cost_nothing() -> None:
    cache, client, _, _ = _cache()
    assert cache.get_many([]) == []
    cache.set_many([])
    assert client.calls == []


def test_outage_fails_open_and_backs_off_then_resumes(caplog: pytest.LogCaptureFixture) -> None:
    cache, client, clock, errors = _cache(retry_after_s=5.0)
    cache.set_many([("a", b"1")])
    client.down = True
    with caplog.at_level(logging.INFO, logger="consumer.redis_cache"):
        assert cache.get_many(["a", "b"]) == [None, None]  # tried, failed: all misses
        assert len(errors) == 1 and not cache.available
        calls_at_failure = len(client.calls)
        clock.now += 4.9
        assert cache.get_many(["a"]) == [None]  # within retry_after: not even tried
        assert len(client.calls) == calls_at_failure
        clock.now += 0.1
        assert cache.get_many(["a"]) == [None]  # tried again, still down: a new back-off
        assert len(errors) == 2 and len(client.calls) == calls_at_failure + 1
        client.down = False
        clock.now += 4.9
        assert cache.get_many(["a"]) == [None]  # Redis is back, but the back-off still holds
        clock.now += 0.1
        assert cache.get_many(["a"]) == [b"1"]  # resumed
        cache.set_many([("d", b"4")])
        assert cache.get_many(["d"]) == [b"4"] and cache.available
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once per outage, not once per failure
    assert "secret" not in caplog.text  # the URL's password is redacted
    assert any("back" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert len(errors) == 2


def test_a_write_failure_opens_the_write_outage_only() -> None:
    """A full Redis (noeviction: every write refused with OOM) still serves lookups."""
    cache, client, clock, errors = _cache(retry_after_s=1.0)
    client.store["a"] = b"1"
    client.refuse_writes = redis.exceptions.OutOfMemoryError(
        "OOM command not allowed when used memory > 'maxmemory'."
    )
    cache.set_many([("b", b"2")])  # no exception escapes
    assert [type(e) for e in errors] == [redis.exceptions.OutOfMemoryError]
    assert not cache.writable and cache.available
    assert cache.get_many(["a", "b"]) == [b"1", None]  # reads still go to Redis and hit
    cache.set_many([("c", b"3")])  # inside the write back-off: not tried
    assert client.calls == ["pipeline:1", "mget"]
    clock.now += 1.0
    client.refuse_writes = None
    cache.set_many([("c", b"3")])  # back-off over: tried, and writes resume
    assert cache.writable and cache.get_many(["c"]) == [b"3"]


def test_a_read_failure_leaves_writes_alone() -> None:
    cache, client, _, errors = _cache(retry_after_s=1.0)
    client.refuse_reads = True
    assert cache.get_many(["a"]) == [None]
    assert not cache.available and cache.writable
    cache.set_many([("a", b"1")])
    assert client.store == {"a": b"1"} and len(errors) == 1


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # (event, at time) -> returns of failed()/succeeded(), and may_try() at the end
        ([("fail", 0.0)], ([True], False)),
        ([("fail", 0.0), ("fail", 1.0)], ([True, False], False)),
        ([("fail", 0.0), ("ok", 6.0)], ([True, True], True)),
        ([("ok", 0.0), ("ok", 1.0)], ([False, False], True)),
        ([("fail", 0.0), ("ok", 6.0), ("fail", 7.0)], ([True, True, True], False)),
    ],
)
def test_outage_table(events: list[tuple[str, float]], expected: tuple[list[bool], bool]) -> None:
    clock = FakeClock()
    outage = Outage(retry_after_s=5.0, clock=clock)
    returned = []
    for event, at in events:
        clock.now = at
        returned.append(outage.failed() if event == "fail" else outage.succeeded())
    assert (returned, outage.may_try()) == expected


@pytest.mark.parametrize(("elapsed", "may_try"), [(0.0, False), (4.99, False), (5.0, True), (60.0, True)])
def test_outage_waits_retry_after(elapsed: float, may_try: bool) -> None:
    clock = FakeClock()
    outage = Outage(retry_after_s=5.0, clock=clock)
    outage.failed()
    clock.now += elapsed
    assert outage.may_try() is may_try
