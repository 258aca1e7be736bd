"""Concurrency bounds for fetches: one global semaphore and one per host, held for one request.

    >>> limits = FetchLimits(total=64, per_host=8)
    >>> async with limits.hold("images.example.com"):
    ...     ...  # at most 64 requests in all and 8 to this host are inside here at once

Per-host semaphores are created on demand and dropped when no request holds or waits on them, so
a stream of distinct hosts does not grow the table without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FetchLimits:
    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}  # host -> (semaphore, users)

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        sem, users = self._hosts.get(host, (asyncio.Semaphore(self._per_host), 0))
        self._hosts[host] = (sem, users + 1)
        try:
            async with sem, self._total:  # host first: a busy host does not hog global slots
                yield
        finally:
            sem, users = self._hosts[host]
            if users == 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (sem, users - 1)

    @property
    def hosts_tracked(self) -> int:
        return len(self._hosts)
