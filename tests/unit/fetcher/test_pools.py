"""The trusted hosts' pool: one request per transport, and a request reuses its origin's connection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

import httpx
import pytest

from fetcher.pools import TransportPool

A, B, C = ("https", "a.cdn", 443), ("https", "b.cdn", 443), ("http", "a.cdn", 80)


class _Transport:
    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def _pool(connections: int) -> TransportPool:
    made = iter(range(connections))
    return TransportPool(
        lambda: cast(httpx.AsyncBaseTransport, _Transport(next(made))), connections=connections
    )


def _n(transport: httpx.AsyncBaseTransport) -> int:
    return cast(_Transport, transport).n


@pytest.mark.parametrize("connections", [1, 2, 16, 256])
def test_every_held_request_has_a_transport_of_its_own(connections: int) -> None:
    pool = _pool(connections)
    origins = [A, B, C]
    with contextlib.ExitStack() as held:
        picked = [_n(held.enter_context(pool.pick(origins[i % 3]))) for i in range(connections)]
        assert sorted(picked) == list(range(connections))
        with pytest.raises(RuntimeError), pool.pick(A):  # the caller's bound was broken: say so
            pass


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (origin, hold?) in order; each request released unless held. Expected: the transport each got.
        ([(A, False), (A, False), (A, False)], [0, 0, 0]),  # one origin, one at a time: one connection
        ([(A, True), (A, True), (A, False)], [0, 1, 2]),  # concurrent: one connection each
        ([(A, False), (B, False), (A, False), (B, False)], [0, 1, 0, 1]),  # each origin keeps its own
        ([(A, False), (C, False), (A, False)], [0, 1, 0]),  # another scheme or port is another origin
    ],
)
def test_a_request_reuses_a_free_connection_to_its_origin(
    steps: list[tuple[tuple[str, str, int], bool]], expected: list[int]
) -> None:
    pool = _pool(4)
    got = []
    with contextlib.ExitStack() as held:
        for origin, hold in steps:
            if hold:
                got.append(_n(held.enter_context(pool.pick(origin))))
            else:
                with pool.pick(origin) as transport:
                    got.append(_n(transport))
    assert got == expected


def test_most_recently_used_first() -> None:
    pool = _pool(4)
    first, second = pool.pick(A), pool.pick(A)
    assert (_n(first.__enter__()), _n(second.__enter__())) == (0, 1)
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    with pool.pick(A) as again:  # 0 was released first, 1 last: 1 is the warmest connection
        assert _n(again) == 1


def test_a_new_origin_takes_an_unused_transport_before_another_origins_connection() -> None:
    pool = _pool(2)
    with pool.pick(A):
        pass
    with pool.pick(B) as transport:
        assert _n(transport) == 1  # 0 keeps its connection to A
    with pool.pick(C) as transport:  # none unused: takes a free one of another origin
        assert _n(transport) in (0, 1)
    assert pool.origins == 2  # C, and whichever of A or B was not taken


def test_origins_tracked_are_bounded_by_the_pool() -> None:
    pool = _pool(3)
    for port in range(1000):  # a trusted host on any port: every port is an origin
        with pool.pick(("https", "a.cdn", port)):
            pass
    assert pool.origins <= pool.size == 3


def test_aclose_closes_every_transport() -> None:
    pool = _pool(3)
    transports = []
    with contextlib.ExitStack() as held:
        transports = [held.enter_context(pool.pick(A)) for _ in range(3)]
    asyncio.run(pool.aclose())
    assert all(cast(_Transport, t).closed for t in transports)
