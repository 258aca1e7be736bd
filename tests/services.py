"""Real services for integration and e2e tests: the embedded broker (tansu) and Redis.

Set MODSTREAM_TEST_BOOTSTRAP=host:port to run against an external Kafka broker instead of tansu.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

REDIS_URL = os.environ.get("MODSTREAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    bootstrap: str
    process: subprocess.Popen[bytes] | None


@contextlib.contextmanager
def run_broker() -> Iterator[Broker]:
    external = os.environ.get("MODSTREAM_TEST_BOOTSTRAP")
    if external:
        yield Broker(external, None)
        return
    from modstream.broker import spawn_broker, wait_until_ready

    port = free_port()
    proc = spawn_broker("127.0.0.1", port)
    try:
        wait_until_ready(f"127.0.0.1:{port}", proc=proc)
        yield Broker(f"127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
