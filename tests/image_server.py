"""A real HTTP image server on 127.0.0.1 for integration tests: routes you register, requests it saw.

    >>> with ImageServer() as server:
    ...     server.add_bytes("/cat.png", make_png("red"), "image/png")
    ...     server.add_status("/gone", 404)
    ...     server.add_hang("/hang")
    ...     url = server.url("/cat.png")          # http://127.0.0.1:<port>/cat.png
    ...     allow = [server.host]                 # "127.0.0.1:<port>", for FetchSettings.allow_hosts
    ...     ...                                   # fetch it
    ...     assert server.requests == ["/cat.png"]

    >>> with canary() as trap:                    # NOT allow-listed: must see nothing
    ...     ...                                   # fetch http://localhost:<trap.port>/...
    ...     assert trap.requests == []

Every route is served by a thread of a ThreadingHTTPServer; `close()` (or leaving the `with`) wakes every
hanging or dripping handler, so shutdown never waits on a test's slow route. `max_concurrent` counts the
most requests in progress at once, for tests of a client's concurrency bound; two servers on two
loopback addresses can count together (`ImageServer(address="127.0.0.2", counts_with=first)`).
"""

from __future__ import annotations

import io
import struct
import sys
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from PIL import Image

# A hanging route gives up after this long even if nobody closes the server.
_HANG_LIMIT_S = 60.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Route:
    kind: str  # "bytes", "status", "redirect", "drip", "hang", "huge"
    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    location: str = ""
    chunk: int = _CHUNK
    delay_s: float = 0.0
    n_bytes: int = 0
    content_length: bool = True


class _Concurrency:
    """Requests in progress and the peak, possibly shared by servers on several addresses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def begin(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def end(self) -> None:
        with self._lock:
            self.active -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 resets connections under a fetcher's concurrency

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops a kept-alive connection is normal; anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ImageServer:
    """A loopback HTTP server whose routes a test registers; see the module docstring."""

    def __init__(
        self,
        *,
        default: _Route | None = None,
        address: str = "127.0.0.1",
        counts_with: ImageServer | None = None,
    ) -> None:
        self._routes: dict[str, _Route] = {}
        self._default = default
        self._lock = threading.Lock()
        self._requests: list[str] = []
        self._sent: dict[str, int] = {}
        self._concurrency = counts_with._concurrency if counts_with is not None else _Concurrency()
        self._stop = threading.Event()
        self.address = address  # any of 127.0.0.0/8: tests of per-address limits use two of them
        self._httpd = _Server((address, 0), _handler_class(self))
        self.port: int = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="image-server", daemon=True
        )
        self._thread.start()

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The `host:port` entry that allow-lists this server."""
        return f"{self.address}:{self.port}"

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.address}:{self.port}{path}"

    # -- what it saw -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[str]:
        """Paths requested so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def bytes_sent(self, path: str) -> int:
        """Body bytes this server managed to write for `path` (streaming routes)."""
        with self._lock:
            return self._sent.get(path, 0)

    @property
    def max_concurrent(self) -> int:
        """The most requests in progress at once (on this server and any that count with it)."""
        return self._concurrency.peak

    # -- routes ------------------------------------------------------------------------------------
    def add_bytes(self, path: str, body: bytes, content_type: str, *, delay_s: float = 0.0) -> None:
        """Serve `body` as it is; `delay_s` waits before answering (for concurrency tests)."""
        self._routes[path] = _Route("bytes", body=body, content_type=content_type, delay_s=delay_s)

    def add_status(self, path: str, code: int, body: bytes = b"") -> None:
        self._routes[path] = _Route("status", status=code, body=body, content_type="text/plain")

    def add_redirect(self, path: str, location: str, code: int = 302) -> None:
        self._routes[path] = _Route("redirect", status=code, location=location)

    def add_slow_drip(self, path: str, body: bytes, bytes_per_chunk: int, delay_s: float) -> None:
        """Announce the whole body, then send `bytes_per_chunk` every `delay_s`."""
        self._routes[path] = _Route(
            "drip", body=body, content_type="image/png", chunk=bytes_per_chunk, delay_s=delay_s
        )

    def add_hang(self, path: str) -> None:
        """Accept the request and never answer (until the server closes)."""
        self._routes[path] = _Route("hang")

    def add_huge(self, path: str, n_bytes: int, *, content_length: bool = True) -> None:
        """Stream `n_bytes` of a PNG-looking body without holding it; with or without Content-Length."""
        self._routes[path] = _Route(
            "huge", n_bytes=n_bytes, content_type="image/png", content_length=content_length
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ImageServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- used by the handler -----------------------------------------------------------------------
    def _begin(self, path: str) -> _Route | None:
        with self._lock:
            self._requests.append(path)
        self._concurrency.begin()
        return self._routes.get(path.split("?", 1)[0], self._default)

    def _end(self, h: BaseHTTPRequestHandler) -> None:
        """Once per request: `_send` counts the end just before the last byte goes out, since the
        client may read it and start its next request before this thread runs again."""
        if not getattr(h, "_ended", False):
            h._ended = True  # type: ignore[attr-defined]
            self._concurrency.end()

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + n


def canary() -> ImageServer:
    """A server on another port that answers every path with a valid PNG: it must never be reached.

    Leave it OFF the allow-list; a fetcher that obeys its address policy sends it zero requests.
    """
    return ImageServer(default=_Route("bytes", body=make_png("green"), content_type="image/png"))


def _handler_class(server: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, the body waits for the client's
        # delayed ACK (~40 ms on Linux), a latency no real image host adds.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._ended = False
            route = server._begin(self.path)
            try:
                _serve(self, server, route)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True  # the client gave up; that is what some tests want
            finally:
                server._end(self)

    return Handler


def _serve(h: BaseHTTPRequestHandler, server: ImageServer, route: _Route | None) -> None:
    stop = server._stop
    if route is None:
        _send(h, 404, b"not found", "text/plain")
    elif route.kind == "bytes":
        if route.delay_s and stop.wait(route.delay_s):
            return
        _send(h, 200, route.body, route.content_type, server=server)
    elif route.kind == "status":
        _send(h, route.status, route.body, route.content_type)
    elif route.kind == "redirect":
        h.send_response(route.status)
        h.send_header("Location", route.location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    elif route.kind == "hang":
        stop.wait(_HANG_LIMIT_S)
        h.close_connection = True
    elif route.kind == "drip":
        _headers(h, 200, route.content_type, len(route.body))
        for start in range(0, len(route.body), route.chunk):
            if stop.wait(route.delay_s):
                break
            piece = route.body[start : start + route.chunk]
            h.wfile.write(piece)
            h.wfile.flush()
            server._count(h.path, len(piece))
        h.close_connection = True
    elif route.kind == "huge":
        _stream_huge(h, server, route)


def _stream_huge(h: BaseHTTPRequestHandler, server: ImageServer, route: _Route) -> None:
    _headers(h, 200, route.content_type, route.n_bytes if route.content_length else None)
    head = _PNG_MAGIC + b"\0" * (_CHUNK - len(_PNG_MAGIC))
    zeros = b"\0" * _CHUNK
    left = route.n_bytes
    chunk = head
    while left > 0 and not server._stop.is_set():
        piece = chunk[:left]
        h.wfile.write(piece)
        server._count(h.path, len(piece))
        left -= len(piece)
        chunk = zeros
    h.close_connection = True


def _headers(h: BaseHTTPRequestHandler, code: int, content_type: str, length: int | None) -> None:
    h.send_response(code)
    h.send_header("Content-Type", content_type)
    if length is None:
        h.send_header("Connection", "close")  # the body ends when the connection does
    else:
        h.send_header("Content-Length", str(length))
    h.end_headers()


def _send(
    h: BaseHTTPRequestHandler, code: int, body: bytes, content_type: str, server: ImageServer | None = None
) -> None:
    """With `server`, the request stops counting as in progress before its last byte is written (the
    concurrency tests count exactly what a client can see)."""
    _headers(h, code, content_type, len(body))
    if server is None or not body:
        h.wfile.write(body)
        return
    h.wfile.write(body[:-1])
    h.wfile.flush()
    server._end(h)
    h.wfile.write(body[-1:])


# -- test images -----------------------------------------------------------------------------------
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _encode(colour: str | tuple[int, int, int], size: tuple[int, int], fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt, **kw)
    return buf.getvalue()


def make_png(colour: str | tuple[int, int, int] = "red", size: tuple[int, int] = (32, 32)) -> bytes:
    return _encode(colour, size, "PNG")


def make_jpeg(colour: str | tuple[int, int, int] = "blue", size: tuple[int, int] = (32, 32)) -> bytes:
    return _encode(colour, size, "JPEG", quality=90)


def make_gif(colour: str | tuple[int, int, int] = "white", size: tuple[int, int] = (32, 32)) -> bytes:
    return _encode(colour, size, "GIF")


def make_webp(colour: str | tuple[int, int, int] = "black", size: tuple[int, int] = (32, 32)) -> bytes:
    return _encode(colour, size, "WEBP")


def make_truncated_jpeg(
    colour: str | tuple[int, int, int] = "blue", size: tuple[int, int] = (64, 64)
) -> bytes:
    """A JPEG cut in half: the magic bytes are right, the image cannot be decoded."""
    data = make_jpeg(colour, size)
    return data[: len(data) // 2]


def make_html() -> bytes:
    return b"<!doctype html><html><head><title>not an image</title></head><body>hi</body></html>"


def make_bomb_png(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels (900 M at the default) that compresses to ~100 KB.

    Decoding it whole needs gigabytes; Pillow's decompression-bomb guard should refuse it.
    """
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed 1-bit pixels
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(side)]
    idat = b"".join(parts) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return _PNG_MAGIC + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
