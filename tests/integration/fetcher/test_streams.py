"""The socket layer (`fetcher.streams`) on real loopback sockets: reads, deadlines, closes, bounded
buffering, and TLS (a self-signed certificate made with the openssl command line for the test)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpcore
import httpx
import pytest

from fetcher.network import GuardedBackend, GuardedTransport, system_resolver
from fetcher.policy import AllowList
from fetcher.streams import HIGH_WATER, AsyncioBackend, AsyncioStream

Handler = Callable[[socket.socket], None]


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Handler], int]]:
    """Start a loopback listener whose every connection runs `handler` on its own thread; -> its port."""
    listeners: list[socket.socket] = []

    def start(handler: Handler) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=_run, args=(handler, conn), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


def _run(handler: Handler, conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):  # a client that went away: not the test's concern
        handler(conn)


async def _chunks(stream: httpcore.AsyncNetworkStream, max_bytes: int) -> list[bytes]:
    """Every chunk until the end of stream."""
    out = []
    while chunk := await stream.read(max_bytes, timeout=5):
        out.append(chunk)
    return out


def test_reads_what_was_sent_in_pieces_no_larger_than_asked_then_end_of_stream(
    tcp_server: Callable[[Handler], int],
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: several recv() chunks, each cut into reads

    def send(conn: socket.socket) -> None:
        conn.sendall(body)

    port = tcp_server(send)

    async def go() -> list[bytes]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            return await _chunks(stream, 65536)
        finally:
            await stream.aclose()

    chunks = asyncio.run(go())
    assert b"".join(chunks) == body
    assert max(len(c) for c in chunks) <= 65536


def test_a_write_reaches_the_server(tcp_server: Callable[[Handler], int]) -> None:
    def echo(conn: socket.socket) -> None:
        conn.sendall(conn.recv(1024).upper())

    port = tcp_server(echo)

    async def go() -> bytes:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await stream.write(b"get /cat.png", timeout=5)
        data = await stream.read(1024, timeout=5)
        await stream.aclose()
        return data

    assert asyncio.run(go()) == b"GET /CAT.PNG"


def test_a_silent_server_is_a_read_timeout(tcp_server: Callable[[Handler], int]) -> None:
    gone = threading.Event()
    port = tcp_server(lambda conn: gone.wait(5))

    async def go() -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            await stream.read(1024, timeout=0.1)
        finally:
            await stream.aclose()

    with pytest.raises(httpcore.ReadTimeout):
        asyncio.run(go())
    gone.set()


def test_a_reset_is_a_read_error_after_what_arrived_before_it(tcp_server: Callable[[Handler], int]) -> None:
    def reset(conn: socket.socket) -> None:
        conn.sendall(b"partial")
        conn.recv(16)  # wait for the client's go-ahead: the partial data is in its buffer by now
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    port = tcp_server(reset)

    async def go() -> tuple[bytes, Exception | None]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        first = await stream.read(1024, timeout=5)
        await stream.write(b"go", timeout=5)
        try:
            await stream.read(1024, timeout=5)
        except httpcore.ReadError as exc:
            return first, exc
        finally:
            await stream.aclose()
        return first, None

    first, error = asyncio.run(go())
    assert first == b"partial" and isinstance(error, httpcore.ReadError)


def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the kernel refuses
        with pytest.raises(httpcore.ConnectError):
            asyncio.run(AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5))


def test_an_idle_connection_the_server_closed_is_readable(tcp_server: Callable[[Handler], int]) -> None:
    """httpcore's pool asks "is_readable" of idle connections to drop those the server closed."""
    close = threading.Event()
    port = tcp_server(lambda conn: close.wait(5))

    async def go() -> tuple[bool, bool]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        before = stream.get_extra_info("is_readable")
        close.set()  # the handler returns: the server closes its end
        for _ in range(500):
            await asyncio.sleep(0.01)
            if stream.get_extra_info("is_readable"):
                break
        after = stream.get_extra_info("is_readable")
        await stream.aclose()
        return before, after

    assert asyncio.run(go()) == (False, True)


def test_a_reader_that_does_not_read_holds_a_bounded_buffer(tcp_server: Callable[[Handler], int]) -> None:
    body = b"x" * (8 * HIGH_WATER)
    port = tcp_server(lambda conn: conn.sendall(body))

    async def go() -> tuple[int, int]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        assert isinstance(stream, AsyncioStream)
        for _ in range(500):  # nobody reads: wait until reading has paused at the mark
            if stream._protocol.buffered >= HIGH_WATER:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # and stays paused however much more the server could send
        held = stream._protocol.buffered
        total = len(b"".join(await _chunks(stream, 65536)))  # reading resumes and drains the rest
        await stream.aclose()
        return held, total

    held, total = asyncio.run(go())
    assert HIGH_WATER <= held <= HIGH_WATER + 256 * 1024  # paused at the mark (+ one recv at most)
    assert total == len(body)


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cert, key): self-signed for "localhost" and 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command line is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    names = ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    subprocess.run(
        [openssl, *request, *names, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[int]:
    """An HTTPS server on loopback answering every GET with a tiny PNG; -> its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_https_through_the_guarded_transport(https_server: int, certificate: tuple[Path, Path]) -> None:
    async def go() -> httpx.Response:
        backend = GuardedBackend(AllowList.parse([f"localhost:{https_server}"]), system_resolver)
        transport = GuardedTransport(backend, max_connections=1, ssl_context=_trusting(certificate[0]))
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            first = await client.get(f"https://localhost:{https_server}/a.png")
            second = await client.get(f"https://localhost:{https_server}/b.png")  # the same connection
            assert first.extensions["network_stream"] is second.extensions["network_stream"]
            return second

    response = asyncio.run(go())
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("hostname", "trust"),
    [
        ("localhost", False),  # a certificate no CA we trust signed
        ("images.example.com", True),  # trusted, but not for this name
    ],
)
def test_tls_refuses_what_it_cannot_verify(
    https_server: int, certificate: tuple[Path, Path], hostname: str, trust: bool
) -> None:
    context = _trusting(certificate[0]) if trust else ssl.create_default_context()

    async def go() -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", https_server, timeout=5)
        try:
            await stream.start_tls(context, server_hostname=hostname, timeout=5)
        finally:
            await stream.aclose()

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(go())


def test_a_tls_handshake_that_never_answers_times_out(tcp_server: Callable[[Handler], int]) -> None:
    gone = threading.Event()
    port = tcp_server(lambda conn: gone.wait(5))  # accepts, never speaks TLS

    async def go() -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            await stream.start_tls(ssl.create_default_context(), server_hostname="localhost", timeout=0.2)
        finally:
            await stream.aclose()

    with pytest.raises(httpcore.ConnectTimeout):
        asyncio.run(go())
    gone.set()
