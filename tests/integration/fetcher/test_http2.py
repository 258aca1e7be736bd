"""HTTP/2 through the guarded connection layer: a real HTTP/2 server on loopback (h2, prior knowledge),
and the fetcher's `GuardedTransport` with HTTP/2 on. An HTTP/2 connection is opened by the same checked
`connect_tcp` as an HTTP/1.1 one, many requests share it, and a host the policy refuses gets no packet."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpcore
import httpx
import pytest

from events.settings import FetchSettings
from fetcher.client import ImageFetcher
from fetcher.network import BlockedAddress, GuardedBackend, GuardedTransport, system_resolver
from fetcher.policy import AllowList

BODY = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _serve_h2(conn: socket.socket) -> None:
    h2conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    h2conn.initiate_connection()
    conn.sendall(h2conn.data_to_send())
    with conn:
        while data := conn.recv(65535):
            for event in h2conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = [
                        (":status", "200"),
                        ("content-type", "image/png"),
                        ("content-length", str(len(BODY))),
                    ]
                    h2conn.send_headers(event.stream_id, headers)
                    h2conn.send_data(event.stream_id, BODY, end_stream=True)
            conn.sendall(h2conn.data_to_send())


@pytest.fixture
def h2_server() -> Iterator[tuple[int, list[int]]]:
    """(port, connections accepted so far)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            threading.Thread(target=_serve_h2, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()


class CountingBackend(httpcore.AsyncNetworkBackend):
    """The real socket layer, counting the connections the guarded backend asks it for."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def _get_many(allow: list[str], port: int, n: int) -> tuple[list[httpx.Response], CountingBackend]:
    counting = CountingBackend()
    backend = GuardedBackend(AllowList.parse(allow), system_resolver, inner=counting)
    transport = GuardedTransport(backend, max_connections=4, http1=False, http2=True)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        url = f"http://localhost:{port}/img.png"
        responses = await asyncio.gather(*(client.get(url) for _ in range(n)))
    return list(responses), counting


def test_http2_requests_go_through_the_checked_connection(h2_server: tuple[int, list[int]]) -> None:
    port, accepted = h2_server
    responses, counting = asyncio.run(_get_many([f"localhost:{port}"], port, 20))
    assert [r.http_version for r in responses] == ["HTTP/2"] * 20
    assert all(r.status_code == 200 and r.content == BODY for r in responses)
    # every connection was asked of the guarded backend, to the address it checked, not the name
    assert counting.connects and all(host in ("127.0.0.1", "::1") for host, _ in counting.connects)
    assert len(counting.connects) == len(accepted) < 20  # multiplexed: fewer connections than requests


def test_http2_to_a_refused_address_sends_nothing(h2_server: tuple[int, list[int]]) -> None:
    port, accepted = h2_server
    with pytest.raises(BlockedAddress):
        asyncio.run(_get_many([], port, 3))  # loopback, not allow-listed
    assert accepted == []


def test_trusted_hosts_get_http2_pools_and_others_do_not() -> None:
    settings = FetchSettings(trusted_hosts=["cdn.example"], trusted_concurrency=16)

    async def pools() -> tuple[list[bool], bool]:
        fetcher = ImageFetcher(settings)
        try:
            trusted = [t._pool._http2 for t in fetcher._trusted_pool._transports]  # type: ignore[attr-defined]
            return trusted, fetcher._transport._pool._http2  # type: ignore[attr-defined]
        finally:
            await fetcher.aclose()

    trusted, general = asyncio.run(pools())
    assert trusted == [True] * 16 and general is False  # one transport per trusted connection
