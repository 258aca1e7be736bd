"""The demo's moving parts on one machine: the loopback image server and the child processes.

Every child runs in a session (process group) of its own, so a Ctrl-C in the terminal reaches only
the demo, which then stops the children in order: SIGTERM to each group, a grace period, SIGKILL to
whatever is left. `Children.stop_all()` is idempotent and runs from a `finally`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from modstream.demo.data import ImageStore


class ImageServer:
    """Serves `store` at http://127.0.0.1:PORT/img/<name> (everything else is 404), in a thread."""

    def __init__(self, store: ImageStore) -> None:
        images = store.images
        self.requests = 0

        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server_self.requests += 1
                name = self.path.removeprefix("/img/")
                body = images.get(name) if self.path.startswith("/img/") else None
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-images", daemon=True)

    def start(self) -> ImageServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Children:
    """Child processes started by the demo, each in its own process group."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            list(argv), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._procs.append((name, proc, log))
        return proc

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def stop(self, proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> int | None:
        """SIGTERM the child's group, wait, then SIGKILL it. Returns the exit status."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace_s)
        _signal_group(proc, signal.SIGKILL)  # stragglers in the group (a child's own children)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        return proc.returncode

    def stop_named(self, name: str, grace_s: float = 20.0) -> None:
        for child_name, proc, _log in self._procs:
            if child_name == name:
                self.stop(proc, grace_s)

    def stop_all(self, grace_s: float = 20.0) -> None:
        for _name, proc, log in reversed(self._procs):
            self.stop(proc, grace_s)
            log.close()
        self._procs.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def wait_ready(
    url: str | urllib.request.Request, proc: subprocess.Popen[bytes], timeout_s: float, log_path: Path | str
) -> None:
    """Until `url` (or a prepared request, say with credentials) answers 200; fails early when the child
    exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}; see {log_path}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    where = url.full_url if isinstance(url, urllib.request.Request) else url
    raise TimeoutError(f"{where} not ready after {timeout_s:.0f}s; see {log_path}")


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError, ValueError):
        return False
