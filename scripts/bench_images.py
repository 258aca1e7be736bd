"""The benchmark's image host: a loopback HTTP server in a process of its own (as a real image host
would be, so its work does not compete with the consumer for the GIL).

    python scripts/bench_images.py --delay-ms 20      # prints "port N", then serves until killed

GET /<anything>/<i>.jpg answers, after the delay, with `bench_image(i)`: a 320x240 JPEG whose colour
depends on i, the same bytes in every process. GET /drip/<i>.jpg is a slow or hostile host: it
announces the same image, then sends it 16 bytes every 0.25 s (far past any fetch deadline).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

_PATH = re.compile(r"^/([\w-]+)/(\d+)\.jpg$")
_DRIP_BYTES, _DRIP_EVERY_S = 16, 0.25


@functools.cache
def bench_image(i: int) -> bytes:
    import io

    out = io.BytesIO()
    colour = ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)
    Image.new("RGB", (320, 240), colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


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
            body = bench_image(int(match.group(2)))
            drip = match.group(1) == "drip"
            if not drip:
                time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
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
    server = _Server(("127.0.0.1", 0), _handler(args.delay_ms / 1000))
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
