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
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def _handler(delay_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            match = _PATH.match(self.path)
            if match is None:
                self.send_error(404)
                return
            body, mime = bench_image_typed(int(match.group(2)))
            drip = match.group(1) == "drip"
            if not drip:
                time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not drip:
                self.wfile.write(body)
                return
            self.close_connection = True
            try:
                for start in range(0, len(body), _DRIP_BYTES):
                    time.sleep(_DRIP_EVERY_S)
                    self.wfile.write(body[start : start + _DRIP_BYTES])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the fetcher gave up on it: what a slow host should expect

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    for i in range(VARIANTS):  # encode every image before serving
        bench_image_typed(i)
    server = _Server(("127.0.0.1", 0), _handler(args.delay_ms / 1000))
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
