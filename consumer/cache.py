"""The result cache: a small protocol, an in-process LRU, and the factory that picks one from settings.

    >>> cache = make_cache(settings.redis, clock=time.monotonic, on_error=lambda exc: errors.inc())
    >>> cache.get_many(["k1", "k2"])                 # one round trip for the whole batch
    [b'{"post_id": ...}', None]
    >>> cache.set_many([("k2", b"...")])              # written with the configured TTL
    >>> cache.close()

Values are opaque bytes (signed by consumer.cache_codec before they get here). Keys come from
`consumer.cache_keys`. Redis AUTH: a password in the URL or MODSTREAM_REDIS__PASSWORD; TLS: `rediss://`.
`redis://` (and `rediss://`, `unix://`) URLs select `consumer.redis_cache.RedisCache`, which fails open:
with Redis down, every lookup is a miss and writes are dropped, and scoring carries on. `memory://`
selects `MemoryCache`, for a single process (the demo, tests).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

from events.settings import RedisSettings

Clock = Callable[[], float]


class ResultCache(Protocol):
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One value (or None) per key, in order; never raises for an unavailable backend."""
        ...

    def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store every (key, value); never raises for an unavailable backend."""
        ...

    def close(self) -> None: ...


class MemoryCache:
    """An LRU of at most `max_items` entries, each living `ttl_s` by `clock`. Thread-safe.

    >>> now = [0.0]
    >>> cache = MemoryCache(max_items=2, ttl_s=10, clock=lambda: now[0])
    >>> cache.set_many([("a", b"1")]); now[0] = 11.0
    >>> cache.get_many(["a"])
    [None]
    """

    def __init__(self, max_items: int, ttl_s: float, clock: Clock = time.monotonic) -> None:
        if max_items <= 0 or ttl_s <= 0:
            raise ValueError("max_items and ttl_s must be positive")
        self._max_items = max_items
        self._ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # key -> (expires, value)
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = self._clock()
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                entry = self._items.get(key)
                if entry is None:
                    out.append(None)
                elif entry[0] <= now:
                    del self._items[key]
                    out.append(None)
                else:
                    self._items.move_to_end(key)  # recently used
                    out.append(entry[1])
        return out

    def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        expires = self._clock() + self._ttl_s
        with self._lock:
            for key, value in items:
                self._items[key] = (expires, value)
                self._items.move_to_end(key)
            while len(self._items) > self._max_items:
                self._items.popitem(last=False)  # least recently used

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def close(self) -> None:
        with self._lock:
            self._items.clear()


def make_cache(
    settings: RedisSettings,
    clock: Clock = time.monotonic,
    on_error: Callable[[Exception], None] | None = None,
) -> ResultCache:
    """The cache `settings.url` names: memory:// => MemoryCache, anything else => RedisCache."""
    if settings.url.startswith("memory://"):
        return MemoryCache(settings.memory_max_items, settings.ttl_s, clock)
    from consumer.redis_cache import RedisCache  # redis is imported only when it is used

    return RedisCache(
        settings.url,
        ttl_s=settings.ttl_s,
        timeout_s=settings.timeout_s,
        retry_after_s=settings.retry_after_s,
        password=settings.password.get_secret_value() if settings.password is not None else None,
        clock=clock,
        on_error=on_error,
    )
