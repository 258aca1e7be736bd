"""Concurrency bounds: global and per host, checked with gates instead of sleeps."""

from __future__ import annotations

import asyncio

from fetcher.limits import FetchLimits


async def _run(limits: FetchLimits, hosts: list[str]) -> tuple[int, dict[str, int]]:
    """Start one holder per host entry, all blocked inside on one gate; report the peaks seen."""
    gate = asyncio.Event()
    inside: dict[str, int] = {}
    peak_total = 0
    peak_host: dict[str, int] = {}

    async def worker(host: str) -> None:
        nonlocal peak_total
        async with limits.hold(host):
            inside[host] = inside.get(host, 0) + 1
            peak_total = max(peak_total, sum(inside.values()))
            peak_host[host] = max(peak_host.get(host, 0), inside[host])
            await gate.wait()
            inside[host] -= 1

    tasks = [asyncio.create_task(worker(h)) for h in hosts]
    for _ in range(10):  # let every task run as far as it can
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    return peak_total, peak_host


def test_per_host_bound() -> None:
    peak_total, peak_host = asyncio.run(_run(FetchLimits(total=100, per_host=3), ["a"] * 10 + ["b"] * 2))
    assert peak_host == {"a": 3, "b": 2}
    assert peak_total == 5


def test_global_bound() -> None:
    hosts = [f"h{i}" for i in range(20)]
    peak_total, _ = asyncio.run(_run(FetchLimits(total=4, per_host=3), hosts))
    assert peak_total == 4


def test_per_host_table_is_emptied_after_use() -> None:
    limits = FetchLimits(total=8, per_host=2)
    asyncio.run(_run(limits, [f"h{i % 5}" for i in range(30)]))
    assert limits.hosts_tracked == 0
