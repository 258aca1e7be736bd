"""Concurrency bounds for fetches: per key, with a cap on waiters and a bound on the wait; and in all.

    >>> limits = FetchLimits(total=64, per_key=8, max_waiters=32, wait_s=5.0)
    >>> async with limits.hold("evil.com"), limits.hold("addr:203.0.113.7"), limits.hold_total():
    ...     ...  # at most 8 requests per key and 64 in all are inside here at once

A key is a registrable domain or a resolved address (`fetcher.hostkeys`). A slow or hostile key must
delay only its own fetches, so waiting for one of its slots is bounded twice: when `max_waiters`
requests already wait on a key that has no free slot, the next one fails at once; a request that does
wait gives up after `wait_s`. Both raise `NoSlot` ("host_busy"). Waiting for a global slot is bounded
by `wait_s` too ("fetch_busy": every host is busy at once, not one of them). `max_waiters=None` (the
platform's trusted hosts) means no cap, only the bounded wait.

The wait is a timeout on the semaphore, nothing else: a free slot is taken without suspending, so
`wait_s=0` fails exactly when the key is full (what the unit tests use instead of sleeping).

Per-key semaphores are created on demand and dropped when no request holds or waits on them, so a
stream of distinct hosts does not grow the table without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


class NoSlot(Exception):
    """No slot could be had: `reason` is "host_busy" (one key) or "fetch_busy" (the global bound)."""

    def __init__(self, reason: str, key: str, detail: str) -> None:
        super().__init__(f"{reason}: {key}: {detail}")
        self.reason, self.key = reason, key


@dataclass(eq=False)
class _Gate:
    sem: asyncio.Semaphore
    users: int = 0  # holding or waiting: the gate is dropped when this returns to 0
    waiting: int = 0


class FetchLimits:
    def __init__(self, *, total: int, per_key: int, max_waiters: int | None, wait_s: float) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_key = per_key
        self._max_waiters = max_waiters
        self._wait_s = wait_s
        self._gates: dict[str, _Gate] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """One of `key`'s slots for the duration of the block; NoSlot("host_busy") if none comes."""
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate(asyncio.Semaphore(self._per_key))
        if gate.sem.locked() and self._max_waiters is not None and gate.waiting >= self._max_waiters:
            raise NoSlot("host_busy", key, f"{gate.waiting} requests already wait for it")
        gate.users += 1
        try:
            gate.waiting += 1
            try:
                await self._acquire(gate.sem, "host_busy", key)
            finally:
                gate.waiting -= 1
            try:
                yield
            finally:
                gate.sem.release()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[key]

    @asynccontextmanager
    async def hold_total(self) -> AsyncIterator[None]:
        """One of the global slots; NoSlot("fetch_busy") if none comes within the bounded wait."""
        await self._acquire(self._total, "fetch_busy", "*")
        try:
            yield
        finally:
            self._total.release()

    async def _acquire(self, sem: asyncio.Semaphore, reason: str, key: str) -> None:
        if not sem.locked():  # a free slot is taken without suspending: no deadline to arm
            await sem.acquire()
            return
        try:
            async with asyncio.timeout(self._wait_s):
                await sem.acquire()
        except TimeoutError:
            raise NoSlot(reason, key, f"no slot within {self._wait_s}s") from None

    def waiting(self, key: str) -> int:
        gate = self._gates.get(key)
        return 0 if gate is None else gate.waiting

    @property
    def keys_tracked(self) -> int:
        return len(self._gates)
