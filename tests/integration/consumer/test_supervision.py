"""A pipeline stage dies (the test-only fault hook makes the prep thread raise) in a real `modstream consume`
on the real broker: /healthz turns 503 within seconds, the process exits 1, no offset is committed past a
post that was not finished, and a restarted consumer scores every post."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from consumer.faults import ENV as KILL_STAGE
from events.settings import Settings
from tests.integration.consumer.conftest import (
    ConsumerProcess,
    TinyModels,
    committed_offsets,
    create_topics,
    post,
    produce,
    publish_version,
    wait_until,
)

N_POSTS = 300
DIES_AT = 40  # the prep thread raises when it takes its 40th post


class HealthPoller:
    """GET /healthz every 20 ms on a thread; remembers when each status was first seen (wall clock)."""

    def __init__(self, port: int) -> None:
        self.first_seen: dict[int, float] = {}
        self._url = f"http://127.0.0.1:{port}/healthz"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                with urllib.request.urlopen(self._url, timeout=1) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                continue  # not up yet, or gone
            self.first_seen.setdefault(status, time.time())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _log_time(log: str, needle: str) -> float:
    for line in log.splitlines():
        if needle in line and line.startswith("{"):
            return datetime.fromisoformat(json.loads(line)["ts"]).timestamp()
    raise AssertionError(f"{needle!r} not in the log:\n{log[-4000:]}")


def test_a_dead_stage_fails_healthz_exits_non_zero_and_commits_nothing_past_unfinished_posts(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    outputs_of: Callable,
    consumer_processes: list[ConsumerProcess],
    tmp_path: Path,
) -> None:
    settings = consumer_settings(
        batch={"max_size": 8, "max_wait_ms": 5},
        consumer={"max_in_flight": 64, "poll_batch": 16, "commit_interval_s": 0.1},
        log={"json_format": True},
    )
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    landed = produce(settings, [post(f"post-{i}", text=f"post number {i}") for i in range(N_POSTS)])
    reader = outputs_of(settings)

    first = ConsumerProcess(settings, tmp_path / "first.log", extra_env={KILL_STAGE: f"prep:{DIES_AT}"})
    consumer_processes.append(first)
    port: list[int] = []

    def health_port() -> bool:
        found = re.search(r"metrics and health on port (\d+)", first.log())
        port.extend([int(found.group(1))] if found else [])
        return bool(found)

    wait_until(health_port, 60, "the health server's port in the log")
    poller = HealthPoller(port[0])
    try:
        code = first.wait(120)
    finally:
        poller.close()
    log = first.log()
    assert code == 1, log[-4000:]
    assert "stage thread died: prep" in log
    assert 200 in poller.first_seen, "/healthz never answered 200 before the fault"
    assert 503 in poller.first_seen, f"/healthz never answered 503: {poller.first_seen}\n{log[-3000:]}"
    injected = _log_time(log, "TEST ONLY: injecting a fault")
    detected = poller.first_seen[503] - injected
    print(f"/healthz 503 seen {detected:.3f} s after the prep thread died; exit code {code}")
    assert detected < 5.0

    # No offset committed past an unfinished post: below each partition's committed offset, every post
    # had its result from the first run.
    finished = {r.post_id for r in reader.drain().results}
    assert 0 < len(finished) < N_POSTS, "the fault did not leave unfinished posts: nothing was tested"
    committed = committed_offsets(settings)
    for post_id, (partition, offset) in landed.items():
        if offset < committed.get(partition, 0):
            assert post_id in finished, f"{post_id} (p{partition}@{offset}) committed but never finished"
    print(f"first run: {len(finished)} of {N_POSTS} finished; committed {committed}")

    second = ConsumerProcess(settings, tmp_path / "second.log")
    consumer_processes.append(second)
    wait_until(lambda: len({r.post_id for r in reader.poll().results}) >= N_POSTS, 120, "every post scored")
    second.signal(signal.SIGTERM)
    assert second.wait(settings.consumer.drain_grace_s + 10) == 0, second.log()[-3000:]
    assert {r.post_id for r in reader.drain().results} == set(landed)
