"""The trusted hosts' connection pool: one httpx transport per connection, serving one request at a time.

    >>> pool = TransportPool(make, connections=256)    # make() -> a transport of ONE connection
    >>> with pool.pick(("https", "cdn.example.com", 443)) as transport:   # no other request holds it
    ...     response = await transport.handle_async_request(request)
    >>> await pool.aclose()

httpcore 1.0's pool walks all of its connections, asking each whether it is idle, for every request
it assigns, and does so again each time a request finishes: the cost per request grows with the
square of the pool's size. Measured here (one loopback host, 1,000 fetches, server in another
process): 2.4 s with 8 connections, 13.2 s with 64, 36.2 s with 256. Even shards of 8 (what this
module made before) spent a sixth of a fetch's CPU there at 1,000 fetches/s. A transport whose pool
holds one connection and never more than one request finds that connection (or opens it) at once.

While the caller admits at most `connections` requests at once (the trusted hosts' semaphore in
`fetcher.limits`), a free transport always exists. Free transports are kept in a stack per origin
their connection last went to, so a request reuses an open connection to its own origin, the most
recently used first (the others idle out after keep-alive). Without one it takes a transport never
used yet, else a free one of another origin (httpcore closes that connection and opens one to the
new origin). Origins are keys only while they have free transports: at most `connections` of them.

HTTP/2 (where TLS offers it) changes nothing here: one request at a time per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable, Iterator

import httpx


class TransportPool:
    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport], *, connections: int) -> None:
        self._transports = [make() for _ in range(connections)]
        self._unused = list(range(connections - 1, -1, -1))  # popped from the end: transport 0 first
        self._free: dict[Hashable, list[int]] = {}  # origin -> free transports last connected there

    @contextlib.contextmanager
    def pick(self, origin: Hashable) -> Iterator[httpx.AsyncBaseTransport]:
        """A transport no other request holds, preferring one already connected to `origin`."""
        i = self._take(origin)
        try:
            yield self._transports[i]
        finally:
            self._free.setdefault(origin, []).append(i)

    def _take(self, origin: Hashable) -> int:
        same = self._free.get(origin)
        if same:
            return self._pop(origin, same)
        if self._unused:
            return self._unused.pop()
        for other, stack in self._free.items():  # each non-empty: an emptied stack is removed
            return self._pop(other, stack)
        raise RuntimeError(
            f"all {len(self._transports)} connections are busy: the caller must bound requests"
        )

    def _pop(self, origin: Hashable, stack: list[int]) -> int:
        i = stack.pop()
        if not stack:
            del self._free[origin]
        return i

    @property
    def size(self) -> int:
        return len(self._transports)

    @property
    def origins(self) -> int:
        """Origins with free transports (what the pool tracks; at most `size`)."""
        return len(self._free)

    async def aclose(self) -> None:
        await asyncio.gather(*(transport.aclose() for transport in self._transports))
