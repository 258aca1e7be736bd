"""The health server is no way in: bounded connections on one thread, a deadline per connection, a rest
after a failed accept (EMFILE does not spin), loopback by default, and port 0 turns it off.

Real loopback sockets; no other service."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.assembly import health_server
from consumer.metrics import ConsumerMetrics
from events.settings import MetricsSettings
from ops.health import HealthServer

ROOT = Path(__file__).resolve().parents[3]


@contextlib.contextmanager
def serving(**options: object) -> Iterator[HealthServer]:
    state = {"alive": True}
    server = HealthServer(
        "127.0.0.1",
        0,
        metrics=lambda: b"modstream_up 1\n",
        alive=lambda: state["alive"],
        ready=lambda: False,
        **options,  # type: ignore[arg-type]
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_routes_answer() -> None:
    with serving() as server:
        assert get(server.port, "/healthz") == (200, b"ok\n")
        assert get(server.port, "/readyz") == (503, b"not ready\n")
        assert get(server.port, "/metrics?x=1") == (200, b"modstream_up 1\n")
        assert get(server.port, "/nope")[0] == 404
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        conn.request("POST", "/healthz", body=b"x")
        assert conn.getresponse().status == 405
        conn.close()


def test_a_thousand_idle_connections_neither_add_threads_nor_lock_the_probe_out() -> None:
    """Silent sockets mostly wait in the kernel (TCP_DEFER_ACCEPT); the half that send a first byte reach
    the server, which keeps at most max_connections of them."""
    with serving(max_connections=32, io_timeout_s=5.0) as server:
        threads_before = threading.active_count()
        idle = []
        for _ in range(1000):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", server.port))
            idle.append(sock)
        time.sleep(0.2)
        for sock in idle[::2]:  # half start a request and stall (slow senders): they reach the server
            with contextlib.suppress(OSError):
                sock.send(b"G")
        time.sleep(0.5)  # let the server accept what it will
        started = time.monotonic()
        status, _ = get(server.port, "/healthz", timeout=5.0)
        took = time.monotonic() - started
        open_now, threads = server.open_connections(), threading.active_count()
        print(
            f"1000 idle connections: /healthz {status} in {took * 1000:.1f} ms; "
            f"server holds {open_now} connections; threads {threads_before} -> {threads}"
        )
        for sock in idle:
            sock.close()
        assert status == 200 and took < 1.0
        assert open_now <= 32 + 1  # +1: a newcomer is counted for an instant before it is refused
        assert threads == threads_before  # no thread per connection


def test_a_connection_that_never_finishes_its_request_is_closed_at_its_deadline() -> None:
    with serving(io_timeout_s=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the blank line
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 3.0
        sock.close()


def test_an_oversized_request_is_refused() -> None:
    with serving() as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20_000)
        assert sock.recv(100).startswith(b"HTTP/1.1 431")
        sock.close()


def test_port_zero_turns_the_server_off_and_the_test_flag_binds_a_free_loopback_port() -> None:
    class Hooks:
        def alive(self) -> bool:
            return True

        def ready(self) -> bool:
            return True

        def on_assign(self, tps: list[tuple[str, int]]) -> None: ...
        def on_revoke(self, tps: list[tuple[str, int]]) -> None: ...
        def on_lost(self, tps: list[tuple[str, int]]) -> None: ...

    metrics = ConsumerMetrics()
    assert health_server(MetricsSettings(port=0), Hooks(), metrics) is None
    server = health_server(MetricsSettings(port=0, test_only_ephemeral_port=True), Hooks(), metrics)
    assert server is not None
    try:
        assert server.port != 0
        assert server._listener.getsockname()[0] == "127.0.0.1"  # loopback by default
    finally:
        server.close()


_CHILD = textwrap.dedent(
    """
    import os, resource, socket, sys, time
    sys.path.insert(0, sys.argv[1])
    from ops.health import HealthServer
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    server = HealthServer("127.0.0.1", 0, metrics=lambda: b"", alive=lambda: True, ready=lambda: True)
    server.start()
    hog = []
    try:
        while True:                      # the rest of the process takes every descriptor left
            hog.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    print(server.port, flush=True)
    sys.stdin.readline()   # the parent has connected
    cpu = time.process_time(); time.sleep(2.0)
    print(f"{time.process_time() - cpu:.3f}", flush=True)
    sys.stdin.readline()
    """
)


def test_out_of_file_descriptors_the_accept_loop_rests_instead_of_spinning() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    socks = []
    try:
        assert child.stdout is not None and child.stdin is not None
        port = int(child.stdout.readline())
        for _ in range(20):  # each one readable at once, but the child has no descriptor to accept it with
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
            socks.append(sock)
        time.sleep(0.5)
        child.stdin.write("go\n")
        child.stdin.flush()
        cpu_s = float(child.stdout.readline())
        print(f"at the descriptor limit: {cpu_s:.3f} s CPU over 2 s of wall time")
        assert cpu_s < 0.5  # a spinning accept loop burns ~2 s
        child.stdin.write("done\n")
        child.stdin.flush()
        child.wait(10)
    finally:
        for sock in socks:
            sock.close()
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("bad", [{"max_connections": 0}, {"io_timeout_s": 0}])
def test_nonsense_bounds_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        HealthServer("127.0.0.1", 0, metrics=lambda: b"", alive=lambda: True, ready=lambda: True, **bad)  # type: ignore[arg-type]


def test_check_says_so_when_the_health_server_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from consumer import check

    monkeypatch.setenv("MODSTREAM_METRICS__PORT", "0")
    assert check.run(argparse.Namespace(url=None, timeout=1.0)) == 1
    assert "off" in capsys.readouterr().err
