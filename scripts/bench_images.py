"""The benchmark's image host: a loopback HTTP server in a process of its own (as a real image host
would be, so its work does not compete with the consumer for the GIL).

    python scripts/bench_images.py --delay-ms 20      # prints "port N", then serves until killed

GET /<anything>/<i>.jpg answers, after the delay, with `bench_image(i)`: a real photograph, the same bytes
in every process. The photographs are the sample images shipped inside the pinned scikit-image wheel
(read from the installed package's data folder: never skimage's downloading data API), re-encoded as
JPEG, PNG or WebP at 500x500 or 1200x675, so a decode costs what a platform's images cost (a flat colour
JPEG decodes several times faster). Image i is photo i % 6 in format/size combination (i // 6) % 6.
GET /drip/<i>.jpg is a slow or hostile host: it announces the same image, then sends it 16 bytes every
0.25 s (far past any fetch deadline).

The server is one asyncio event loop answering from memory: each image's whole response (status line,
headers, body) is built once, and an answer is a timer and one write. Scenario i asks 1,000 images/s
of it on a two-core machine it shares with the fetcher; the thread-per-connection http.server it
replaces spent ~0.3 ms of CPU per request there (a third of a core) and ran 256 threads.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import io
import re
import sys
from pathlib import Path

from PIL import Image

_PATH = re.compile(r"^/([\w-]+)/(\d+)\.jpg$")
_DRIP_BYTES, _DRIP_EVERY_S = 16, 0.25


PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
)
FORMATS = (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"))
SIZES = ((500, 500), (1200, 675))


def photo_dir() -> Path:
    """skimage/data inside the installed wheel (found without importing skimage, which is slow)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed (a dev dependency: make install)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.cache
def _photo(name: str) -> Image.Image:
    with Image.open(photo_dir() / name) as img:
        return img.convert("RGB")


VARIANTS = len(PHOTOS) * len(FORMATS) * len(SIZES)  # distinct images: i and i + VARIANTS are the same


def bench_image_typed(i: int) -> tuple[bytes, str]:
    """(bytes, content type) of image i: photo i % 6, in format and size (i // 6) % 6."""
    return _encoded(i % VARIANTS)


@functools.cache
def _encoded(i: int) -> tuple[bytes, str]:
    combo = i // len(PHOTOS)
    (fmt, mime), size = FORMATS[combo % len(FORMATS)], SIZES[combo // len(FORMATS)]
    out = io.BytesIO()
    picture = _photo(PHOTOS[i % len(PHOTOS)]).resize(size, Image.Resampling.BILINEAR)
    picture.save(out, format=fmt, **({"quality": 85} if fmt != "PNG" else {}))
    return out.getvalue(), mime


def bench_image(i: int) -> bytes:
    return bench_image_typed(i)[0]


_MAX_HEAD = 16 * 1024  # a request head larger than this closes the connection
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def _head(i: int) -> bytes:
    return _variant_head(i % VARIANTS)


def _response(i: int) -> bytes:
    """Status line, headers and body of image i, built once per distinct image: one write each."""
    return _variant_response(i % VARIANTS)


@functools.cache
def _variant_head(i: int) -> bytes:
    body, mime = bench_image_typed(i)
    return f"HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {len(body)}\r\n\r\n".encode()


@functools.cache
def _variant_response(i: int) -> bytes:
    return _variant_head(i) + bench_image_typed(i)[0]


class _Connection(asyncio.Protocol):
    """One client connection: its requests answered one at a time, in order, each after the delay
    (the timer starts when the request has arrived, as a real host's latency would)."""

    def __init__(self, delay_s: float) -> None:
        self._delay_s = delay_s
        self._buffer = bytearray()
        self._busy = False  # a request is being answered: the next waits in the buffer
        self._closed = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > _MAX_HEAD and self._buffer.find(b"\r\n\r\n") < 0:
            self._close()
            return
        self._next()

    def _next(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if self._busy or self._closed or end < 0:
            return
        head = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        request_line = head.split(b"\r\n", 1)[0].split()
        close = b"\r\nconnection: close" in head.lower()
        match = None
        if len(request_line) == 3 and request_line[0] == b"GET":
            match = _PATH.match(request_line[1].decode("latin-1"))
        self._busy = True
        loop = asyncio.get_running_loop()
        if match is None:
            self._answer(_NOT_FOUND, close)
        elif match.group(1) == "drip":
            i = int(match.group(2))
            self._write(_head(i))
            loop.call_later(_DRIP_EVERY_S, self._drip, bench_image_typed(i)[0], 0)
        else:
            loop.call_later(self._delay_s, self._answer, _response(int(match.group(2))), close)

    def _answer(self, response: bytes, close: bool) -> None:
        self._write(response)
        self._busy = False
        if close:
            self._close()
        else:
            self._next()

    def _drip(self, body: bytes, start: int) -> None:
        """The slow or hostile host: 16 bytes every 0.25 s (far past any fetch deadline), then close."""
        if self._closed:
            return  # the fetcher gave up on it: what a slow host should expect
        self._write(body[start : start + _DRIP_BYTES])
        if start + _DRIP_BYTES < len(body):
            asyncio.get_running_loop().call_later(_DRIP_EVERY_S, self._drip, body, start + _DRIP_BYTES)
        else:
            self._close()

    def _write(self, data: bytes) -> None:
        if not self._closed and self._transport is not None:
            self._transport.write(data)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._closed = True


async def _serve(delay_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(delay_s), "127.0.0.1", 0, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    for i in range(VARIANTS):  # encode every image before serving
        _response(i)
    asyncio.run(_serve(args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
