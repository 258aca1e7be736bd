"""The guarded connection layer's decisions, with a recording stand-in for the socket layer.

What matters here is WHICH address it connects to and when it refuses; the real sockets are
exercised by tests/integration/fetcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpcore
import pytest

from fetcher.network import BlockedAddress, GuardedBackend, ResolveError, pinned_addresses
from fetcher.policy import AllowList


class RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.connected: list[tuple[str, int]] = []
        self._refuse = refuse

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        if host in self._refuse:
            raise httpcore.ConnectError(f"{host} refused")
        return httpcore.AsyncNetworkStream()


def _resolver(table: dict[str, list[list[str]]]) -> Any:
    """Answers from `table`; successive lookups of a name get successive answers (rebinding)."""
    calls: dict[str, int] = {}

    async def resolve(host: str, port: int) -> list[str]:
        n = calls.get(host, 0)
        calls[host] = n + 1
        answers = table.get(host)
        if answers is None:
            raise ResolveError(host)
        return answers[min(n, len(answers) - 1)]

    return resolve


def _connect(backend: GuardedBackend, host: str, port: int = 80) -> None:
    asyncio.run(backend.connect_tcp(host, port))


TABLE = {
    "public.example": [["93.184.215.14"]],
    "dual.example": [["2606:4700::1111", "93.184.215.14"]],
    "loopback.example": [["127.0.0.1"]],
    "metadata.example": [["169.254.169.254"]],
    "mixed.example": [["93.184.215.14", "10.0.0.1"]],
    "mapped.example": [["::ffff:127.0.0.1"]],
    "rebind.example": [["93.184.215.14"], ["127.0.0.1"]],
    "trusted.internal": [["10.9.9.9"]],
}


@pytest.mark.parametrize(
    ("host", "port", "connected"),
    [
        ("public.example", 80, [("93.184.215.14", 80)]),
        ("dual.example", 443, [("2606:4700::1111", 443)]),
        ("trusted.internal", 8080, [("10.9.9.9", 8080)]),  # allow-listed name
        ("127.0.0.1", 8123, [("127.0.0.1", 8123)]),  # allow-listed host:port, literal
    ],
)
def test_connects_to_the_checked_address(host: str, port: int, connected: list[tuple[str, int]]) -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(AllowList.parse(["trusted.internal", "127.0.0.1:8123"]), _resolver(TABLE), inner)
    _connect(backend, host, port)
    assert inner.connected == connected


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("loopback.example", 80),
        ("metadata.example", 80),
        ("mixed.example", 80),  # one private address among public ones refuses the host
        ("mapped.example", 80),
        ("127.0.0.1", 8124),  # allow-listed on another port only
        ("::1", 80),
        ("2130706433", 80),
        ("0x7f.1", 80),
    ],
)
def test_refuses_without_connecting(host: str, port: int) -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(AllowList.parse(["127.0.0.1:8123"]), _resolver(TABLE), inner)
    with pytest.raises(BlockedAddress):
        _connect(backend, host, port)
    assert inner.connected == []


def test_dns_rebinding_cannot_slip_between_check_and_connect() -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(AllowList.parse([]), _resolver(TABLE), inner)
    _connect(backend, "rebind.example")  # first answer public: connects to exactly that address
    assert inner.connected == [("93.184.215.14", 80)]
    with pytest.raises(BlockedAddress):  # the next connection (a new hop) sees the rebound answer
        _connect(backend, "rebind.example")
    assert inner.connected == [("93.184.215.14", 80)]


def test_falls_through_to_the_next_checked_address() -> None:
    inner = RecordingBackend(refuse=frozenset({"2606:4700::1111"}))
    backend = GuardedBackend(AllowList.parse([]), _resolver(TABLE), inner)
    _connect(backend, "dual.example")
    assert inner.connected == [("2606:4700::1111", 80), ("93.184.215.14", 80)]


def test_unresolvable_host() -> None:
    backend = GuardedBackend(AllowList.parse([]), _resolver(TABLE), RecordingBackend())
    with pytest.raises(ResolveError):
        _connect(backend, "nowhere.example")


def test_unix_sockets_are_refused() -> None:
    backend = GuardedBackend(AllowList.parse([]), _resolver(TABLE), RecordingBackend())
    with pytest.raises(BlockedAddress):
        asyncio.run(backend.connect_unix_socket("/var/run/docker.sock"))


def test_a_pinned_request_connects_to_the_checked_addresses_without_resolving_again() -> None:
    # A rebinding resolver: the first answer is public, every later one private. The client resolves
    # (and checks) once to key its limits and pins that answer; the connection must use it.
    inner = RecordingBackend()
    resolve = _resolver({"rebind.example": [["93.184.215.14"], ["127.0.0.1"]]})
    backend = GuardedBackend(AllowList(), resolve, inner)

    async def request() -> None:
        addresses = await backend.checked_addresses("rebind.example", 80)
        with pinned_addresses("Rebind.Example.", 80, addresses):  # pins match in normalised form
            await backend.connect_tcp("rebind.example", 80)

    asyncio.run(request())
    assert inner.connected == [("93.184.215.14", 80)]


@pytest.mark.parametrize(("pin_host", "pin_port"), [("other.example", 80), ("rebind.example", 8080)])
def test_a_pin_for_another_origin_is_ignored(pin_host: str, pin_port: int) -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(AllowList(), _resolver({"rebind.example": [["127.0.0.1"]]}), inner)

    async def request() -> None:
        with pinned_addresses(pin_host, pin_port, ["93.184.215.14"]):
            await backend.connect_tcp("rebind.example", 80)

    with pytest.raises(BlockedAddress):  # resolved and checked as usual: the pin did not apply
        asyncio.run(request())
    assert inner.connected == []
