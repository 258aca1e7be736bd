"""A large pool as small ones: every request goes to a client with a free connection."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any, cast

import httpx
import pytest

from fetcher.pools import ShardedClients


class _Client:
    def __init__(self, size: int) -> None:
        self.size = size
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def _pools(connections: int, shard_size: int) -> ShardedClients:
    return ShardedClients(
        lambda size: cast(httpx.AsyncClient, _Client(size)), connections=connections, shard_size=shard_size
    )


@pytest.mark.parametrize(
    ("connections", "shard_size", "sizes"),
    [(256, 8, [8] * 32), (20, 8, [8, 8, 4]), (5, 8, [5]), (1, 8, [1])],
)
def test_every_held_request_has_a_free_connection(
    connections: int, shard_size: int, sizes: list[int]
) -> None:
    pools = _pools(connections, shard_size)
    assert pools.shards == len(sizes)
    with contextlib.ExitStack() as held:
        picked: list[Any] = [held.enter_context(pools.pick()) for _ in range(connections)]
        per_client = Counter(id(c) for c in picked)
        # the caller's bound equals the total: each client holds exactly as many as it has connections
        assert sorted(per_client.values()) == sorted(sizes)
        assert all(per_client[id(c)] <= c.size for c in picked)


def test_released_connections_are_picked_again() -> None:
    pools = _pools(16, 8)
    with pools.pick() as first, pools.pick() as second:
        assert first is not second  # spread, not piled on one client
    with contextlib.ExitStack() as held:
        picked = [held.enter_context(pools.pick()) for _ in range(16)]
    assert Counter(id(c) for c in picked).most_common(1)[0][1] == 8
