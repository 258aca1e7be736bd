"""The connection layer of the fetcher: every TCP connection is checked against the address policy.

    >>> transport = guarded_transport(allow, resolver=system_resolver, max_connections=64)
    >>> client = httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)

httpcore asks its network backend for a TCP connection to (host, port) whenever it opens one, for the
first request and for every redirect hop to a new origin. `GuardedBackend.connect_tcp` resolves the
host itself, refuses the connection if ANY of the addresses is not public (unless the host is
allow-listed), and then connects to exactly the address it checked. Nothing resolves the name a
second time, so DNS rebinding between the check and the connection cannot happen. TLS still
verifies the certificate against the host name: httpcore passes the name, not the IP, to start_tls.

HTTP/2 (`http2=True`, the platform's trusted hosts) changes nothing here: an HTTP/2 connection is one
TCP connection that httpcore opens through the same `connect_tcp`, and then multiplexes requests to
that one origin over it. Redirects to another origin open a new, checked, connection.

The client resolves a host before its request, to key the per-address limit by what it will connect
to (`fetcher.limits`), and pins the checked addresses for the request with `pinned_addresses`:
httpcore opens the connection in the requesting task, so `connect_tcp` sees the pin and connects to
those addresses without resolving (or checking) a second time. Without a pin it resolves as above.

Below this layer, the sockets are `fetcher.streams` (asyncio's transports; httpcore's anyio backend
costs several times the CPU per read). Tests pass an `inner` backend that records what it is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

from fetcher.addresses import literal_ip
from fetcher.policy import AllowList, check_address, normalise_host
from fetcher.streams import AsyncioBackend

Resolver = Callable[[str, int], Awaitable[list[str]]]

# (host, port, addresses) already checked for the request running in this task; see the docstring.
_pinned: contextvars.ContextVar[tuple[str, int, tuple[str, ...]] | None] = contextvars.ContextVar(
    "fetch_pinned_addresses", default=None
)


@contextlib.contextmanager
def pinned_addresses(host: str, port: int, addresses: list[str]) -> Iterator[None]:
    """Inside the block (this task only), a connection to host:port goes to these checked addresses."""
    token = _pinned.set((normalise_host(host), port, tuple(addresses)))
    try:
        yield
    finally:
        _pinned.reset(token)


class BlockedAddress(Exception):
    """A connection the address policy refuses; raised before any packet is sent."""

    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(f"{host}:{port} resolves to {address}, which the fetch policy refuses")
        self.host, self.port, self.address = host, port, address


class ResolveError(Exception):
    """The host name did not resolve."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, as the operating system's resolver reports them (unique, in order)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveError(f"{host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only connects to addresses the policy permits."""

    def __init__(
        self, allow: AllowList, resolver: Resolver, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._allow = allow
        self._resolve = resolver
        self._inner = inner or AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pinned = _pinned.get()
        if pinned is not None and pinned[:2] == (normalise_host(host), port):
            addresses = list(pinned[2])  # checked by checked_addresses for this very request
        else:
            addresses = await self.checked_addresses(host, port)
        last: Exception | None = None
        for address in addresses:  # connect to exactly the addresses checked, in resolver order
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, if every one of them is permitted; else BlockedAddress."""
        literal = literal_ip(host)
        addresses = [str(literal)] if literal is not None else await self._resolve(host, port)
        if not addresses:
            raise ResolveError(f"{host}: no addresses")
        for address in addresses:
            if check_address(ipaddress.ip_address(address), host, port, self._allow) is not None:
                raise BlockedAddress(host, port, address)
        return addresses

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(path, 0, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def new_ssl_context() -> ssl.SSLContext:
    """Certificates verified against certifi's CAs, host names checked; the environment ignored.

    Building one costs ~30 ms (it loads the CA bundle): transports that share a setting share one.
    httpcore sets the context's ALPN protocols when it connects (h2 or not), so transports with
    different `http2` settings must not share one."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool rebuilt on a `GuardedBackend`.

    httpx 0.28 has no `network_backend` argument (encode/httpx#3749 adds one), so the pool that
    AsyncHTTPTransport builds is replaced by an identical one on the guarded backend. The assertion
    makes an httpx upgrade that changes this fail loudly instead of silently unguarded.
    `ssl_context`: see `new_ssl_context` (one is made when none is given).
    """

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        max_connections: int,
        keepalive_expiry: float = 5.0,
        http1: bool = True,
        http2: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        ssl_context = ssl_context or new_ssl_context()
        super().__init__(verify=ssl_context, trust_env=False, retries=0)
        assert isinstance(self._pool, httpcore.AsyncConnectionPool), "httpx internals changed"
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            http1=http1,
            http2=http2,  # with http1 too: HTTP/2 only where TLS's ALPN offers it; alone: prior knowledge
            retries=0,
            network_backend=backend,
        )


def guarded_transport(allow: AllowList, *, resolver: Resolver, max_connections: int) -> GuardedTransport:
    return GuardedTransport(GuardedBackend(allow, resolver), max_connections=max_connections)
