"""`modstream check`: is the local consumer ready? Exit 0 when /readyz answers 200, else 1.

For container health checks: `HEALTHCHECK CMD modstream check`. The port is MODSTREAM_METRICS__PORT
unless `--url` names the endpoint; with the port 0 (server off) there is nothing to ask, and it says so.

What each probe means (README, "Probes"): /healthz 200 = the poll loop turns and every pipeline stage
lives, with no post in flight past MODSTREAM_CONSUMER__MAX_IN_FLIGHT_AGE_S (restart it when not);
/readyz 200 = alive, subscribed, and a model version serving (send it traffic). This command asks /readyz.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default=None, help="readiness endpoint (default: http://127.0.0.1:PORT/readyz)"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")


def run(args: argparse.Namespace) -> int:
    url = args.url
    if url is None:
        from events.settings import Settings

        port = Settings().metrics.port
        if port == 0:
            print("not ready: the health server is off (MODSTREAM_METRICS__PORT=0)", file=sys.stderr)
            return 1
        url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"modstream check: not ready: {url}: {exc}", file=sys.stderr)
        return 1
    print(("ready: " if ok else "not ready: ") + url)
    return 0 if ok else 1
