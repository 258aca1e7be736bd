"""The Redis result cache: one round trip per batch each way, and failing open.

    >>> cache = RedisCache("redis://localhost:6379/0", ttl_s=604800, timeout_s=0.5, retry_after_s=5.0)
    >>> cache.get_many(keys)            # one MGET
    >>> cache.set_many(items)           # one pipeline of SET key value EX ttl (no MULTI)

Fail open: when a call fails (Redis down, slow, refusing), it is logged once for the outage,
`on_error(exc)` is called, lookups answer all misses and writes are dropped; the consumer scores
on without the cache. For `retry_after_s` after a failure nothing is even tried (a dead Redis
costs no timeouts per batch); then the next call tries again, and caching resumes once it
succeeds. The outage bookkeeping is `Outage`, plain logic on an injected clock.
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
    """A ResultCache on Redis that never raises for Redis trouble; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: int,
        timeout_s: float,
        retry_after_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
        client: Any = None,
    ) -> None:
        self._where = redact_url(url)
        self._ttl_s = int(ttl_s)
        self._on_error = on_error
        self._outage = Outage(retry_after_s, clock)
        self._lock = threading.Lock()
        # No client-side retries: a failure goes straight to the fail-open path, bounded by timeout_s.
        self._client = client or redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys or not self._may_try():
            return [None] * len(keys)
        try:
            values = self._client.mget(list(keys))
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return [None] * len(keys)
        self._succeeded()
        if len(values) != len(keys):  # never trust a reply that does not line up with the request
            return [None] * len(keys)
        return [v if isinstance(v, bytes) else None for v in values]

    def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        if not items or not self._may_try():
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value, ex=self._ttl_s)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._succeeded()

    def close(self) -> None:
        self._client.close()

    @property
    def available(self) -> bool:
        """False while an outage is recorded (for a health or metrics view)."""
        with self._lock:
            return not self._outage.down

    def _may_try(self) -> bool:
        with self._lock:
            return self._outage.may_try()

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            started = self._outage.failed()
        if started:
            log.warning("result cache at %s unavailable, scoring without it: %s", self._where, exc)
        if self._on_error is not None:
            self._on_error(exc)

    def _succeeded(self) -> None:
        with self._lock:
            ended = self._outage.succeeded()
        if ended:
            log.info("result cache at %s is back", self._where)
