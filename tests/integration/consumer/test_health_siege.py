"""1,000 idle connections held open on the health port by another process (which reconnects every one the
server closes): the running consumer keeps scoring, /healthz answers within 1 s to a prober in a third
process (as a kubelet or `modstream check` would ask), and the consumer's thread count stays where it was
(no thread per connection)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

from events.settings import Settings
from tests.integration.consumer.conftest import (
    TinyModels,
    create_topics,
    post,
    produce,
    publish_version,
    running_consumer,
    wait_until,
)

N_IDLE = 1000
N_POSTS = 200

# Opens N idle connections (sends nothing), reconnecting whichever the server closes, until stdin closes.
_SIEGE = textwrap.dedent(
    """
    import resource, selectors, socket, sys, threading
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, n = int(sys.argv[1]), int(sys.argv[2])
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    sel = selectors.DefaultSelector()
    def connect():
        s = socket.socket(); s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        sel.register(s, selectors.EVENT_READ)
    for _ in range(n):
        connect()
    print("open", flush=True)
    reconnects = 0
    while not done.is_set():
        for key, _ in sel.select(0.1):
            sel.unregister(key.fileobj); key.fileobj.close(); connect(); reconnects += 1
    print(reconnects, flush=True)
    """
)


# GETs /healthz every 50 ms until stdin closes; prints one "status seconds" line per probe.
_PROBER = textwrap.dedent(
    """
    import http.client, sys, threading, time
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while not done.wait(0.05):
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            conn.close()
        except OSError as exc:
            status = type(exc).__name__
        print(status, round(time.monotonic() - started, 4), flush=True)
    """
)


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_a_thousand_idle_connections_do_not_stop_scoring_or_the_probe(
    consumer_settings: Callable[..., Settings], tiny_models: TinyModels, outputs_of: Callable
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        wait_until(service.ready, 60, "the consumer to be ready")
        threads_before = _os_threads()
        siege = subprocess.Popen(
            [sys.executable, "-c", _SIEGE, str(service.health_port), str(N_IDLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert siege.stdout is not None and siege.stdin is not None
            assert siege.stdout.readline().strip() == "open"
            time.sleep(1.0)
            threads_sieged = _os_threads()  # the siege alone, before this test starts producing
            started = time.monotonic()
            prober = subprocess.Popen(
                [sys.executable, "-c", _PROBER, str(service.health_port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            produce(settings, [post(f"siege-{i}", text=f"under siege {i}") for i in range(N_POSTS)])
            while len(reader.poll(0.1).results) < N_POSTS:
                assert time.monotonic() - started < 120, "scoring stalled under the siege"
            time.sleep(1.0)  # a few more probes
            assert prober.stdin is not None and prober.stdout is not None
            prober.stdin.close()
            probes = [line.split() for line in prober.stdout.read().splitlines()]
            prober.wait(10)
            scored_s = time.monotonic() - started
            threads_during = _os_threads()
            open_conns = service.parts.health.open_connections() if service.parts.health else -1
        finally:
            siege.stdin.close() if siege.stdin else None
            reconnects = siege.stdout.readline().strip() if siege.stdout else "?"
            siege.wait(10)
        failed = [p for p in probes if p[0] != "200"]
        worst = max(float(seconds) for _, seconds in probes)
        print(
            f"{N_IDLE} idle connections: {N_POSTS} posts scored in {scored_s:.1f} s; /healthz {len(probes)} "
            f"probes, {len(failed)} not 200 {failed[:5]}, max {worst * 1000:.1f} ms; "
            f"server held {open_conns} connections; "
            f"OS threads {threads_before} before, {threads_sieged} under siege, {threads_during} while "
            f"scoring; siege reconnects {reconnects}"
        )
        assert len(probes) >= 10 and not failed and worst < 1.0
        assert (
            open_conns <= settings.metrics.max_connections + 1
        )  # +1: a newcomer counted before it is refused
        assert threads_sieged <= threads_before + 1  # one of slack: a pool thread coming and going
        # the test's own producer and probes add a few; a thread per connection would add ~1,000
        assert threads_during <= threads_before + 10
    assert {r.post_id for r in reader.outputs.results} >= {f"siege-{i}" for i in range(N_POSTS)}
