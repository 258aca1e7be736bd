"""A TCP proxy on 127.0.0.1 that a test can stop and start: a real service "going away" and "coming back".

    >>> with TcpProxy("127.0.0.1", 6379) as proxy:      # redis://127.0.0.1:{proxy.port}/0 reaches Redis
    ...     proxy.stop()     # listener closed, every open connection cut: clients see refusals/resets
    ...     proxy.start()    # the same port answers again
    ...     proxy.drip_s = 0.05   # Redis's replies now arrive one byte every 50 ms (each read is short,
    ...                           # the call endless); None passes them through again
    ...     proxy.refuse_writes = True  # SETs are answered "-OOM ..." as by a full Redis (noeviction);
    ...                                 # every other command still reaches Redis

Connections are pumped by threads; `stop()` shuts every socket down so nothing lingers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.drip_s: float | None = None  # when set, upstream bytes reach the client one at a time
        self.refuse_writes = False  # when set, SET commands are refused with Redis's OOM error
        self.port = 0
        self.start()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # port 0 the first time, the same port after
        listener.listen(64)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self._upstream, timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst, replies in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, replies), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        pending = b""
        try:
            while data := src.recv(65536):
                if not replies and (self.refuse_writes or pending):
                    pending = _refuse_sets(pending + data, client=src, upstream=dst)
                    continue
                if not replies or self.drip_s is None:
                    dst.sendall(data)
                    continue
                for i in range(len(data)):
                    dst.sendall(data[i : i + 1])
                    time.sleep(self.drip_s or 0.0)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


def _refuse_sets(buffer: bytes, *, client: socket.socket, upstream: socket.socket) -> bytes:
    """Answer every complete SET command in `buffer` with OOM and forward the others; returns the
    incomplete rest. Commands are RESP arrays of bulk strings, as redis-py sends them. (A connection that
    mixes SETs and other commands in one pipeline would see its replies out of order; the cache keeps
    reads and writes on connections of their own.)"""
    while True:
        end = _command_end(buffer)
        if end is None:
            return buffer
        command, buffer = buffer[:end], buffer[end:]
        name = command.split(b"\r\n", 3)[2].upper() if command.startswith(b"*") else b""
        if name == b"SET":
            client.sendall(_OOM)
        else:
            upstream.sendall(command)


def _command_end(buffer: bytes) -> int | None:
    if not buffer.startswith(b"*"):
        line_end = buffer.find(b"\r\n")  # an inline command
        return None if line_end < 0 else line_end + 2
    head_end = buffer.find(b"\r\n")
    if head_end < 0:
        return None
    at = head_end + 2
    for _ in range(int(buffer[1:head_end])):
        size_end = buffer.find(b"\r\n", at)
        if size_end < 0:
            return None
        at = size_end + 2 + int(buffer[at + 1 : size_end]) + 2
        if at > len(buffer):
            return None
    return at
