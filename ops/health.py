"""HTTP endpoints for operations: /metrics (Prometheus), /healthz (alive), /readyz (serving).

One thread runs a selector loop over every connection, so no client can make the process grow threads or
hold it: at most `max_connections` are open (the oldest is closed to admit a new one, so idle sockets
cannot lock the probes out), each connection has `io_timeout_s` in all to send its request and take the
answer, requests are GET lines with headers under 8 KiB, and when accept fails (EMFILE: out of file
descriptors) the listener rests for a moment instead of spinning.

    >>> server = HealthServer("127.0.0.1", 9108, metrics=lambda: b"", alive=lambda: True, ready=lambda: False)
    >>> server.start(); server.port     # port 0 asks the OS for a free port (tests)
    >>> server.close()

Binding is the caller's choice; `MODSTREAM_METRICS__PORT=0` means no server at all (see assembly).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

_MAX_REQUEST = 8192  # request line + headers
_ACCEPT_BACKOFF_S = 0.1  # after an accept error (EMFILE, ENFILE, ENOBUFS): rest, do not spin
_TICK_S = 0.1  # how often deadlines are checked
_GRACE_S = 0.25  # a new connection has this long to send its request before it may be evicted

Route = Callable[[], tuple[int, str, bytes]]


@dataclass
class _Conn:
    sock: socket.socket
    accepted_at: float
    deadline: float
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytes | None = None  # set once the request is answered
    sent: int = 0


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        metrics: Callable[[], bytes],
        alive: Callable[[], bool],
        ready: Callable[[], bool],
        max_connections: int = 32,
        io_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_connections <= 0 or io_timeout_s <= 0:
            raise ValueError("max_connections and io_timeout_s must be positive")
        self._routes: dict[str, Route] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, metrics()),
            "/healthz": lambda: _status(alive()),
            "/readyz": lambda: _status(ready()),
        }
        self._max = max_connections
        self._timeout_s = io_timeout_s
        self._clock = clock
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        if hasattr(socket, "TCP_DEFER_ACCEPT"):  # Linux: hand us a connection once it has sent something,
            # so silent sockets wait in the kernel instead of in our slots, and a probe arrives readable
            self._listener.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, round(io_timeout_s))
            )
        self._listener.listen(1024)  # the kernel caps it at somaxconn; a deep queue keeps SYNs from retrying
        self._listener.setblocking(False)
        self._conns: OrderedDict[socket.socket, _Conn] = OrderedDict()  # oldest first
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._listening_again_at: float | None = None  # set while accept rests after an error
        self._quiet_until = 0.0  # accept errors are logged at most every 10 s
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def open_connections(self) -> int:
        return len(self._conns)

    def start(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._thread.start()
        log.info("metrics and health on port %d", self.port)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for sock in list(self._conns):
            self._drop(sock)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._listener)
        self._listener.close()
        self._selector.close()

    # -- the loop (its own thread) ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # a bug here must not end the probes; rest a moment and go on
                log.exception("health server step failed")
                time.sleep(_ACCEPT_BACKOFF_S)

    def _step(self) -> None:
        ready = self._selector.select(timeout=_TICK_S)
        # connections first, the listener last: what is already accepted is served before newcomers
        ready.sort(key=lambda item: item[0].fileobj is self._listener)
        for key, events in ready:
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is self._listener:
                self._accept()
            elif events & selectors.EVENT_READ:
                self._read(sock)
            elif events & selectors.EVENT_WRITE:
                self._write(sock)
        now = self._clock()
        if self._listening_again_at is not None and now >= self._listening_again_at:
            self._listening_again_at = None
            self._selector.register(self._listener, selectors.EVENT_READ)
        for sock, conn in list(self._conns.items()):
            if now < conn.deadline:
                break  # ordered by accept time, and every connection gets the same timeout
            self._drop(sock)

    def _accept(self) -> None:
        for _ in range(8):  # a few at a time: connections already accepted get read before they are evicted
            try:
                sock, _addr = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    return
                if self._clock() >= self._quiet_until:
                    log.warning("health server cannot accept: %s (logged at most every 10 s)", exc)
                    self._quiet_until = self._clock() + 10.0
                if self._conns:  # give back a descriptor of our own: the oldest idle connection's
                    self._drop(self._victim() or next(iter(self._conns)))
                    return
                self._selector.unregister(self._listener)  # nothing of ours to free: rest, do not spin
                self._listening_again_at = self._clock() + _ACCEPT_BACKOFF_S
                return
            now = self._clock()
            sock.setblocking(False)
            self._conns[sock] = _Conn(sock, now, now + self._timeout_s)
            self._selector.register(sock, selectors.EVENT_READ)
            # A probe sends its request right after connecting, usually before we accept it: read it now,
            # so it is answered at once and needs no slot; only silent newcomers compete for one.
            self._read(sock)
            if sock in self._conns and len(self._conns) > self._max:
                self._drop(self._victim() or sock)  # no idle connection past its grace: refuse the newcomer

    def _victim(self) -> socket.socket | None:
        """The connection to close to admit a new one, or None: the oldest past its grace that has sent
        nothing, else the oldest past its grace still sending its request (slow senders); never one being
        answered. The grace keeps a flood of newcomers from evicting a probe that has only just connected."""
        now = self._clock()
        seasoned = [(sock, c) for sock, c in self._conns.items() if now - c.accepted_at >= _GRACE_S]
        for wanted in (lambda c: not c.inbox, lambda c: True):
            for sock, conn in seasoned:
                if conn.outbox is None and wanted(conn):
                    return sock
        return None

    def _read(self, sock: socket.socket) -> None:
        conn = self._conns[sock]
        try:
            chunk = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(sock)
            return
        if not chunk:
            self._drop(sock)
            return
        conn.inbox += chunk
        if b"\r\n\r\n" not in conn.inbox and b"\n\n" not in conn.inbox:
            if len(conn.inbox) > _MAX_REQUEST:
                self._answer(conn, 431, "text/plain", b"request too large\n")
            return
        self._answer(conn, *self._route(bytes(conn.inbox)))

    def _route(self, request: bytes) -> tuple[int, str, bytes]:
        words = request.split(b"\n", 1)[0].split()
        if len(words) != 3 or words[0] != b"GET":
            return 405, "text/plain", b"method not allowed\n"
        route = self._routes.get(words[1].split(b"?", 1)[0].decode("latin-1"))
        if route is None:
            return 404, "text/plain", b"not found\n"
        try:
            return route()
        except Exception:
            log.exception("health route %r failed", words[1])
            return 500, "text/plain", b"error\n"

    def _answer(self, conn: _Conn, code: int, ctype: str, body: bytes) -> None:
        head = f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\n"
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.outbox = head.encode("latin-1") + body
        self._selector.modify(conn.sock, selectors.EVENT_WRITE)
        self._write(conn.sock)

    def _write(self, sock: socket.socket) -> None:
        conn = self._conns.get(sock)
        if conn is None or conn.outbox is None:
            return
        try:
            conn.sent += sock.send(conn.outbox[conn.sent :])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(sock)
            return
        if conn.sent >= len(conn.outbox):
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        self._conns.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)
        sock.close()


_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Too Large",
    500: "Error",
    503: "Unavailable",
}


def _status(ok: bool) -> tuple[int, str, bytes]:
    return (200, "text/plain", b"ok\n") if ok else (503, "text/plain", b"not ready\n")
