"""The socket layer under `fetcher.network`: httpcore's network interface on asyncio's own transports.

    >>> backend = AsyncioBackend()
    >>> stream = await backend.connect_tcp("93.184.215.14", 443, timeout=2.0)  # an address network.py checked
    >>> stream = await stream.start_tls(ssl_context, server_hostname="images.example.com", timeout=2.0)
    >>> await stream.write(request_bytes, timeout=5.0)
    >>> chunk = await stream.read(65536, timeout=5.0)                         # b"" at end of stream

It does what httpcore's `AnyIOBackend` does, at a fraction of the CPU per call, which matters at a
thousand images a second per process (one event loop, one core). anyio's stream, for every read,
resumes and pauses the transport's reading (two epoll_ctl calls) inside a cancel scope; and answers
`get_extra_info("is_readable")`, which httpcore's pool asks of every idle connection each time it
assigns or releases a request, with a new dict of attributes, a getpeername() and a poll() call.

Here the protocol keeps reading into a buffer until it holds `HIGH_WATER` bytes (then pauses: memory
per connection stays bounded), a read takes from that buffer without suspending when data is there,
and "is_readable" (an idle connection the server closed, or that has unexpected data) is answered from
what the protocol has seen: while the buffer is under the mark the transport reads, so it knows of
anything the kernel had at the loop's last poll, which is all httpcore's own check ever knew.

Every wait has its deadline (`timeout`, as httpcore passes it); failures map onto httpcore's
exceptions exactly as AnyIOBackend's do (ConnectError/ConnectTimeout, ReadError/ReadTimeout,
WriteError/WriteTimeout), so httpx reports them the same way.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

HIGH_WATER = 512 * 1024  # bytes buffered per connection before reading pauses


class _Protocol(asyncio.Protocol):
    """What arrived on one connection, and who waits for more (one reader, one writer at a time)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.offset = 0  # of the first chunk: what is before it was read already
        self.buffered = 0
        self.eof = False
        self.lost: Exception | None = None
        self.closed = False
        self._paused = False
        self._reader: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered >= HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # asyncio closes the transport (for TLS: it always does)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self._wake_reader()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of what is buffered (some must be). A chunk larger than that is handed out
        in slices from an offset, so each byte is copied once however small the reads."""
        head, start = self.chunks[0], self.offset
        if start == 0 and len(head) <= max_bytes:
            self.chunks.popleft()
            chunk = head
        else:
            end = start + max_bytes
            chunk = head[start:end]
            if end >= len(head):
                self.chunks.popleft()
                end = 0
            self.offset = end
        self.buffered -= len(chunk)
        if self._paused and self.buffered < HIGH_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def wait_readable(self) -> None:
        self._reader = asyncio.get_running_loop().create_future()
        try:
            await self._reader
        finally:
            self._reader = None

    @property
    def draining(self) -> bool:
        return self._drain is not None and not self.closed

    async def wait_drained(self) -> None:
        if self._drain is not None and not self.closed:
            await asyncio.shield(self._drain)  # several writes may wait for the same resume

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._socket: socket.socket | None = transport.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks and not protocol.eof and not protocol.closed:
            try:
                async with asyncio.timeout(timeout):
                    await protocol.wait_readable()
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout}s") from None
        if protocol.chunks:
            return protocol.take(max_bytes)
        if protocol.lost is not None:
            raise httpcore.ReadError(str(protocol.lost) or type(protocol.lost).__name__) from protocol.lost
        return b""  # end of stream

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.closed or self._transport.is_closing():
            raise httpcore.WriteError("connection closed")
        self._transport.write(buffer)
        if protocol.draining:  # the transport holds more than its high-water mark: wait until it sent
            try:
                async with asyncio.timeout(timeout):
                    await protocol.wait_drained()
            except TimeoutError:
                raise httpcore.WriteTimeout(f"not sent within {timeout}s") from None
        if protocol.lost is not None:
            raise httpcore.WriteError(str(protocol.lost) or type(protocol.lost).__name__) from protocol.lost

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout}s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # only when the connection was lost during the handshake
            raise httpcore.ConnectError("connection lost during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._socket
        if info == "is_readable":
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof or protocol.closed
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=None if local_address is None else (local_address, 0)
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} within {timeout}s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        assert isinstance(transport, asyncio.Transport)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
