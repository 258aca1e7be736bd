"""Per-host fairness against a real loopback server: budgets keyed by registrable domain and by resolved
address, a waiter cap and a bounded slot wait that fail fast with "host_busy", and trusted hosts that
bypass all of it (their own pool, no waiter cap) without bypassing the address policy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from events.settings import FetchSettings
from fetcher import BackgroundFetcher
from tests.image_server import ImageServer, make_png
from tests.integration.fetcher.fetching import fetch_all, fetch_one

Settings = Callable[..., FetchSettings]


def _resolver(table: dict[str, str]) -> Callable[[str, int], object]:
    async def resolve(host: str, port: int) -> list[str]:
        return [table[host]]

    return resolve


@pytest.fixture
def second(server: ImageServer) -> Iterator[ImageServer]:
    """A second server on another loopback address (127.0.0.2), counting concurrency with `server`."""
    with ImageServer(address="127.0.0.2", counts_with=server) as s:
        yield s


@pytest.mark.parametrize(
    ("names", "peak"),
    [
        (("a.evil.com", "b.evil.com"), 2),  # one registrable domain over two addresses: one budget of 2
        (("a.evil.co.uk", "b.c.evil.co.uk"), 2),
        (("a.one.com", "b.two.com"), 4),  # strangers: two domains on two addresses, 2 + 2
    ],
)
def test_subdomains_share_their_domains_budget(
    server: ImageServer, second: ImageServer, fetch_settings: Settings, names: tuple[str, str], peak: int
) -> None:
    for s in (server, second):
        s.add_bytes("/slow.png", make_png(), "image/png", delay_s=0.3)
    first_name, second_name = names
    settings = fetch_settings(
        allow_hosts=[first_name, second_name], concurrency=50, per_host_concurrency=2, total_timeout_s=5.0
    )
    urls = [server.url(f"/slow.png?{i}", host=first_name) for i in range(4)]
    urls += [second.url(f"/slow.png?{i}", host=second_name) for i in range(4)]
    resolver = _resolver({first_name: server.address, second_name: second.address})
    results = fetch_all(settings, urls, resolver=resolver)
    assert [r.status for r in results] == ["ok"] * 8
    assert server.max_concurrent == peak  # counted over both servers together
    assert len(server.requests) == len(second.requests) == 4


def test_many_domains_on_one_address_share_its_budget_and_waiters(
    server: ImageServer, fetch_settings: Settings
) -> None:
    server.add_bytes("/slow.png", make_png(), "image/png", delay_s=0.3)
    names = [f"site{i}.example" for i in range(12)]  # 12 registrable domains, one server
    settings = fetch_settings(
        allow_hosts=names, concurrency=50, per_host_concurrency=2, max_waiters_per_host=3, total_timeout_s=5.0
    )
    urls = [server.url(f"/slow.png?{i}", host=name) for i, name in enumerate(names)]
    results = fetch_all(settings, urls, resolver=_resolver(dict.fromkeys(names, server.address)))
    reasons = sorted(r.reason or "ok" for r in results)
    assert reasons == ["host_busy"] * 7 + ["ok"] * 5  # 2 inside + 3 waiting; the rest at once
    assert server.max_concurrent == 2
    assert len(server.requests) == 5


def test_waiter_cap_fails_fast_with_host_busy(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_bytes("/slow.png", make_png(), "image/png", delay_s=0.3)
    seen: list[str] = []
    settings = fetch_settings(per_host_concurrency=1, max_waiters_per_host=2, total_timeout_s=5.0)
    results = fetch_all(
        settings, [server.url(f"/slow.png?{i}") for i in range(10)], observe=lambda o, _: seen.append(o)
    )
    assert sorted((r.status, r.reason) for r in results) == [("failed", "host_busy")] * 7 + [("ok", None)] * 3
    assert sorted(seen) == ["host_busy"] * 7 + ["ok"] * 3  # the metrics hook labels the outcome
    assert len(server.requests) == 3  # a refused fetch never reached the host


def test_slot_wait_is_bounded(server: ImageServer, fetch_settings: Settings) -> None:
    server.add_hang("/hang")
    # The first holds the only slot until its own deadline (3 s); the second gives up waiting at 0.3 s.
    settings = fetch_settings(per_host_concurrency=1, slot_wait_s=0.3, total_timeout_s=3.0, retries=0)
    results = fetch_all(settings, [server.url("/hang?1"), server.url("/hang?2")])
    assert sorted(r.reason or "ok" for r in results) == ["host_busy", "timeout"]
    busy = next(r for r in results if r.reason == "host_busy")
    assert busy.elapsed_s < 3.0  # it did not wait out the slow fetch in front of it
    assert len(server.requests) == 1


def test_trusted_host_has_its_own_pool_and_no_waiter_cap(
    server: ImageServer, fetch_settings: Settings
) -> None:
    server.add_bytes("/cdn.png", make_png(), "image/png", delay_s=0.05)
    # Strangers get 1 slot and no waiting at all; the trusted host is held to neither.
    settings = fetch_settings(
        trusted_hosts=[server.host], per_host_concurrency=1, max_waiters_per_host=0, concurrency=1
    )
    results = fetch_all(settings, [server.url(f"/cdn.png?{i}") for i in range(40)])
    assert [r.reason for r in results] == [None] * 40
    assert server.max_concurrent > 1


def test_trusted_does_not_mean_allow_listed(server: ImageServer, fetch_settings: Settings) -> None:
    # A trusted host on a private address (loopback) that is NOT allow-listed is still refused.
    server.add_bytes("/cdn.png", make_png(), "image/png")
    settings = fetch_settings(allow_hosts=[], trusted_hosts=[server.host])
    result = fetch_one(
        settings, server.url("/cdn.png", host="localhost"), resolver=_resolver({"localhost": server.address})
    )
    assert (result.status, result.reason) == ("blocked", "private_address")
    settings = fetch_settings(allow_hosts=[], trusted_hosts=[f"localhost:{server.port}"])
    result = fetch_one(settings, server.url("/cdn.png", host="localhost"))
    assert (result.status, result.reason) == ("blocked", "private_address")
    assert server.requests == []


@pytest.mark.parametrize("field", ["trusted_hosts", "allow_hosts"])
def test_a_malformed_host_entry_fails_at_start_not_hangs(fetch_settings: Settings, field: str) -> None:
    with pytest.raises(ValueError, match="bad port"):
        BackgroundFetcher(fetch_settings(**{field: ["cdn.example.com:99999"]}))
