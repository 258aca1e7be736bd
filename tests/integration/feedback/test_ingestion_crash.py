"""The trainer killed (SIGKILL) in the middle of ingesting feedback: after a restart nothing is lost.

Real broker, real loopback image server (slow on purpose, so the kill lands mid-stream), the service in
a subprocess.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from events.settings import Settings
from tests.image_server import ImageServer, make_png
from tests.integration.feedback.conftest import (
    TrainerProcess,
    committed_keys,
    committed_total,
    create_topics,
    feedback,
    produce,
    read_topic,
    stored_ids,
)

N_POSTS = 120


def test_sigkill_during_ingestion_loses_no_feedback(
    make_settings: Callable[..., Settings],
    image_server: ImageServer,
    trainer_processes: list[TrainerProcess],
    tmp_path: Path,
) -> None:
    settings = make_settings(
        fetch={"allow_hosts": [image_server.host], "per_host_concurrency": 4},
        # no training in this test: only ingestion
        trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9},
    )
    create_topics(settings)
    images: dict[str, bytes] = {}
    events = []
    for i in range(N_POSTS):
        post_id = f"post-{i:04d}"
        if i % 2 == 0:  # half carry an image, each its own bytes, served slowly
            images[post_id] = make_png((i % 256, (7 * i) % 256, 99), size=(16, 16))
            image_server.add_bytes(f"/{post_id}.png", images[post_id], "image/png", delay_s=0.15)
            events.append(
                feedback(post_id, ["Racist"], text=f"text {i}", image_url=image_server.url(f"/{post_id}.png"))
            )
        else:
            events.append(feedback(post_id, [], text=f"text {i}"))
    produce(settings, events)
    expected = {post_id for post_id, _ in events}

    # 1. SIGKILL mid-stream: whatever was committed was stored first
    first = TrainerProcess(settings, tmp_path / "first.log", poll_batch=8)
    trainer_processes.append(first)
    first.wait_until(lambda: len(stored_ids(settings)) >= 16, timeout_s=90, what="the first stored batches")
    first.kill()
    after_kill = stored_ids(settings)
    assert 0 < len(after_kill) < N_POSTS, f"the kill should land mid-ingestion, stored {len(after_kill)}"
    committed_at_kill = committed_keys(settings)
    assert committed_at_kill <= after_kill

    # 2. SIGTERM mid-stream: the batch in hand is stored and committed, exit 0
    second = TrainerProcess(settings, tmp_path / "second.log", poll_batch=8)
    trainer_processes.append(second)
    second.wait_until(
        lambda: len(stored_ids(settings)) >= len(after_kill) + 16, timeout_s=90, what="more stored batches"
    )
    second.terminate()
    assert second.wait(timeout_s=30) == 0, second.log()[-3000:]
    after_term = stored_ids(settings)
    assert len(after_term) < N_POSTS, "SIGTERM should land mid-ingestion"
    committed_at_term = committed_keys(settings)
    assert committed_at_kill < committed_at_term <= after_term
    # all the second process stored, it committed: only the first one's leftovers may be uncommitted
    assert after_term - committed_at_term <= after_kill - committed_at_kill
    assert "signal" in second.log() and "trainer service stopped" in second.log()

    # 3. a restart reads the rest: every feedback stored, none lost, all committed
    third = TrainerProcess(settings, tmp_path / "third.log", poll_batch=50, max_idle_s=4.0)
    trainer_processes.append(third)
    assert third.wait(timeout_s=120) == 0, third.log()[-3000:]

    assert stored_ids(settings) == expected
    assert committed_total(settings) == N_POSTS
    assert read_topic(settings, settings.topics.feedback_dlq, expect=0, timeout_s=2) == []

    blobs = Path(settings.trainer.data_dir) / "blobs"
    on_disk = {p.name: p.read_bytes() for p in blobs.rglob("*") if p.is_file()}
    assert set(on_disk) == {hashlib.sha256(data).hexdigest() for data in images.values()}
    assert all(hashlib.sha256(data).hexdigest() == name for name, data in on_disk.items())
    # an image is fetched again only when the process died before its example was stored
    counts = {path: image_server.requests.count(path) for path in {f"/{p}.png" for p in images}}
    assert max(counts.values()) <= 2
    assert sum(1 for c in counts.values() if c == 2) <= 8, counts  # at most one batch in flight at the kill
