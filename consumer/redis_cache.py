"""The Redis result cache: one round trip per batch each way, a total deadline per call, and failing open.

    >>> cache = RedisCache("redis://localhost:6379/0", ttl_s=604800, timeout_s=0.5, retry_after_s=5.0)
    >>> cache.get_many(keys)            # one MGET; returns within timeout_s whatever Redis does
    >>> cache.set_many(items)           # one pipeline of SET key value EX ttl (no MULTI)

Deadline: `timeout_s` bounds the whole call, not one socket read (a Redis that drips its reply keeps every
read short). Each direction runs its calls on a `DeadlineCaller` of its own, over a client (connection
pool) of its own; a call past its deadline is abandoned, its connections are cut (so no half-read reply is
ever reused), and until the stuck call has returned, the next one fails at once instead of queueing.

Fail open: when a call fails (Redis down, slow, refusing), it is logged once for the outage, `on_error(exc)`
is called, lookups answer all misses and writes are dropped; the consumer scores on without the cache.
For `retry_after_s` after a failure nothing is even tried (a dead Redis costs no timeouts per batch); then
the next call tries again, and caching resumes once it succeeds. Reads and writes keep apart outages: a
full Redis (writes refused with OOM) still serves lookups. The bookkeeping is `Outage`, plain logic on an
injected clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from consumer.deadline import Busy, DeadlineCaller, DeadlineExceeded
from events.settings import redact_url

log = logging.getLogger(__name__)


class Outage:
    """Whether to try the backend now, and when an outage starts and ends. Not thread-safe alone.

    >>> outage = Outage(retry_after_s=5.0, clock=lambda: now)
    >>> outage.failed()      # True: a new outage began (log it)
    >>> outage.may_try()     # False until 5 s after the failure
    >>> outage.succeeded()   # True: the outage is over (log it)
    """

    def __init__(self, retry_after_s: float, clock: Callable[[], float]) -> None:
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._down = False
        self._next_try = 0.0

    @property
    def down(self) -> bool:
        return self._down

    def may_try(self) -> bool:
        return not self._down or self._clock() >= self._next_try

    def failed(self) -> bool:
        """Record a failure; True when it starts a new outage."""
        started = not self._down
        self._down = True
        self._next_try = self._clock() + self._retry_after_s
        return started

    def succeeded(self) -> bool:
        """Record a success; True when it ends an outage."""
        ended = self._down
        self._down = False
        return ended


class RedisCache:
    """A ResultCache on Redis that never raises for Redis trouble nor blocks past `timeout_s`; see the module
    docstring. `client` (tests) replaces both connection pools."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: int,
        timeout_s: float,
        retry_after_s: float,
        password: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
        client: Any = None,
    ) -> None:
        self._where = redact_url(url)
        self._ttl_s = int(ttl_s)
        self._timeout_s = timeout_s
        self._on_error = on_error
        self._lock = threading.Lock()
        self._reads = _Direction(
            "lookups", client or _client(url, timeout_s, password), Outage(retry_after_s, clock)
        )
        self._writes = _Direction(
            "writes", client or _client(url, timeout_s, password), Outage(retry_after_s, clock)
        )

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        misses: list[bytes | None] = [None] * len(keys)
        if not keys or not self._may_try(self._reads):
            return misses
        client = self._reads.client
        try:
            values = self._reads.caller.call(lambda: client.mget(list(keys)), self._timeout_s)
        except (redis.RedisError, OSError, DeadlineExceeded, Busy) as exc:
            self._failed(self._reads, exc)
            return misses
        self._succeeded(self._reads)
        if not isinstance(values, list) or len(values) != len(
            keys
        ):  # never trust a reply that does not line up
            return misses
        return [v if isinstance(v, bytes) else None for v in values]

    def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        if not items or not self._may_try(self._writes):
            return
        client, ttl_s = self._writes.client, self._ttl_s

        def write() -> None:
            pipe = client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value, ex=ttl_s)
            pipe.execute()

        try:
            self._writes.caller.call(write, self._timeout_s)
        except (redis.RedisError, OSError, DeadlineExceeded, Busy) as exc:
            self._failed(self._writes, exc)
            return
        self._succeeded(self._writes)

    def close(self) -> None:
        for direction in (self._reads, self._writes):
            direction.caller.close()
            direction.client.close()

    @property
    def available(self) -> bool:
        """False while lookups are in an outage (for a health or metrics view)."""
        with self._lock:
            return not self._reads.outage.down

    @property
    def writable(self) -> bool:
        """False while writes are in an outage (a full Redis refuses writes and still serves lookups)."""
        with self._lock:
            return not self._writes.outage.down

    def _may_try(self, direction: _Direction) -> bool:
        with self._lock:
            return direction.outage.may_try()

    def _failed(self, direction: _Direction, exc: Exception) -> None:
        with self._lock:
            started = direction.outage.failed()
        if started:
            log.warning(
                "result cache %s at %s unavailable, scoring without them: %s",
                direction.name,
                self._where,
                exc,
            )
        if self._on_error is not None:
            self._on_error(exc)

    def _succeeded(self, direction: _Direction) -> None:
        with self._lock:
            ended = direction.outage.succeeded()
        if ended:
            log.info("result cache %s at %s are back", direction.name, self._where)


class _Direction:
    """Reads or writes: their own client (connection pool), caller thread and outage."""

    def __init__(self, name: str, client: Any, outage: Outage) -> None:
        self.name = name
        self.client = client
        self.outage = outage
        pool = getattr(client, "connection_pool", None)
        # Abandoning a call cuts this direction's connections: a half-read reply is never reused.
        self.caller = DeadlineCaller(
            f"redis-{name}", on_abandon=pool.disconnect if pool is not None else None
        )


def _client(url: str, timeout_s: float, password: str | None = None) -> Any:
    # No client-side retries: a failure goes straight to the fail-open path. A password given apart from
    # the URL (MODSTREAM_REDIS__PASSWORD) is Redis AUTH; rediss:// URLs are TLS (redis-py's own parsing).
    extra: dict[str, Any] = {} if password is None else {"password": password}
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0), **extra
    )
