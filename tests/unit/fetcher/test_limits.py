"""Concurrency bounds: per key and global, the waiter cap and the bounded wait, checked with gates and
`wait_s=0` (a wait that fails exactly when a slot is not free at once) instead of sleeps."""

from __future__ import annotations

import asyncio

import pytest

from fetcher.limits import FetchLimits, NoSlot


def _limits(
    total: int = 100, per_key: int = 2, max_waiters: int | None = 4, wait_s: float = 60.0
) -> FetchLimits:
    return FetchLimits(total=total, per_key=per_key, max_waiters=max_waiters, wait_s=wait_s)


async def _settle() -> None:
    for _ in range(20):  # let every task run as far as it can
        await asyncio.sleep(0)


async def _run(limits: FetchLimits, keys: list[str]) -> tuple[int, dict[str, int], list[str]]:
    """Start one holder per key entry, all blocked inside on one gate. Returns the peaks seen and the
    reason of each holder that got no slot ("" for those that did)."""
    gate = asyncio.Event()
    inside: dict[str, int] = {}
    peak_total = 0
    peak_key: dict[str, int] = {}

    async def worker(key: str) -> str:
        nonlocal peak_total
        try:
            async with limits.hold(key), limits.hold_total():
                inside[key] = inside.get(key, 0) + 1
                peak_total = max(peak_total, sum(inside.values()))
                peak_key[key] = max(peak_key.get(key, 0), inside[key])
                await gate.wait()
                inside[key] -= 1
        except NoSlot as exc:
            return exc.reason
        return ""

    tasks = [asyncio.create_task(worker(k)) for k in keys]
    await _settle()
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    return peak_total, peak_key, list(outcomes)


def test_per_key_bound() -> None:
    peak_total, peak_key, outcomes = asyncio.run(
        _run(_limits(per_key=3, max_waiters=None), ["a"] * 10 + ["b"] * 2)
    )
    assert peak_key == {"a": 3, "b": 2}
    assert peak_total == 5
    assert outcomes == [""] * 12  # no cap: everyone waited and got a turn


def test_global_bound() -> None:
    keys = [f"h{i}" for i in range(20)]
    peak_total, _, outcomes = asyncio.run(_run(_limits(total=4, per_key=3), keys))
    assert peak_total == 4
    assert outcomes == [""] * 20


def test_key_table_is_emptied_after_use() -> None:
    limits = _limits(total=8, per_key=2, max_waiters=None)
    asyncio.run(_run(limits, [f"h{i % 5}" for i in range(30)]))
    assert limits.keys_tracked == 0


@pytest.mark.parametrize(
    ("per_key", "max_waiters", "requests", "busy"),
    [
        (2, 4, 6, 0),  # 2 inside, 4 waiting: exactly the cap
        (2, 4, 7, 1),  # the seventh finds 4 waiting: host_busy at once
        (2, 4, 50, 44),
        (2, 0, 5, 3),  # no waiting at all: only the free slots
        (8, 4, 8, 0),  # free slots are never refused, whatever the cap
        (1, None, 100, 0),  # trusted: no cap
    ],
)
def test_waiter_cap(per_key: int, max_waiters: int | None, requests: int, busy: int) -> None:
    limits = _limits(per_key=per_key, max_waiters=max_waiters)
    _, peak_key, outcomes = asyncio.run(_run(limits, ["evil.com"] * requests))
    assert outcomes.count("host_busy") == busy
    assert outcomes.count("") == requests - busy
    assert peak_key["evil.com"] == min(per_key, requests)
    assert limits.keys_tracked == 0


def test_waiter_cap_is_per_key() -> None:
    keys = ["slow.example"] * 10 + ["other.example"] * 3
    _, _, outcomes = asyncio.run(_run(_limits(per_key=2, max_waiters=1), keys))
    assert outcomes[:10].count("host_busy") == 7  # 2 inside, 1 waiting
    assert outcomes[10:] == ["", "", ""]  # another key's budget is untouched


@pytest.mark.parametrize(("holders", "outcome"), [(0, ""), (1, ""), (2, "host_busy")])
def test_wait_is_bounded(holders: int, outcome: str) -> None:
    """With wait_s=0 a request that must wait at all gives up at the first turn of the loop."""

    async def scenario() -> str:
        limits = _limits(per_key=2, max_waiters=10, wait_s=0.0)
        release = asyncio.Event()

        async def hold() -> None:
            async with limits.hold("slow.example"):
                await release.wait()

        holding = [asyncio.create_task(hold()) for _ in range(holders)]
        await _settle()
        try:
            async with limits.hold("slow.example"):
                got = ""
        except NoSlot as exc:
            got = exc.reason
        assert limits.waiting("slow.example") == 0  # the one that gave up no longer counts
        release.set()
        await asyncio.gather(*holding)
        return got

    assert asyncio.run(scenario()) == outcome


def test_a_waiter_gets_the_slot_released_within_the_bound() -> None:
    async def scenario() -> list[str]:
        limits = _limits(per_key=1, max_waiters=1, wait_s=60.0)
        order: list[str] = []
        release = asyncio.Event()

        async def first() -> None:
            async with limits.hold("k"):
                order.append("first in")
                await release.wait()

        async def second() -> None:
            async with limits.hold("k"):
                order.append("second in")

        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await _settle()
        assert limits.waiting("k") == 1
        release.set()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["first in", "second in"]


def test_global_wait_is_bounded_as_fetch_busy() -> None:
    async def scenario() -> str:
        limits = _limits(total=1, per_key=5, wait_s=0.0)
        release = asyncio.Event()

        async def hold() -> None:
            async with limits.hold_total():
                await release.wait()

        holder = asyncio.create_task(hold())
        await _settle()
        try:
            async with limits.hold("another.example"), limits.hold_total():
                got = ""
        except NoSlot as exc:
            got = exc.reason
        release.set()
        await holder
        return got

    assert asyncio.run(scenario()) == "fetch_busy"
