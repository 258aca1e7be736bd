"""Poison posts through the real `modstream consume` process on the real broker (issue #8's attacks).

    100 KB of `[`                       RecursionError in json.loads once crashed the poll loop: now
                                        decode/too_deep, the original bytes in the dead letter
    invalid, just under 1 MB            its letter (original + headers) exceeds the producer's
                                        message.max.bytes: once MSG_SIZE_TOO_LARGE out of produce(); now
                                        a reference letter
    image-only, just under 1 MB, the    its dead letter once raised inside the prep worker's handler and
    image fails (HTTP 500)              ended the thread: now a reference letter, stage fetch

Each becomes exactly one dead letter, the posts after them are scored, the group's committed offsets move
past all of them, and the process is still running (then drains on SIGTERM and exits 0).
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Callable
from pathlib import Path

from events.kafka import PRODUCER_MAX_MESSAGE_BYTES
from events.schemas import MAX_MESSAGE_BYTES
from events.settings import Settings
from tests.image_server import ImageServer
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

NEAR_LIMIT = MAX_MESSAGE_BYTES - 300  # what the attacker's producer (default limits) can still send


def _padded_image_only(url: str, size: int) -> bytes:
    body = {"post_id": "image-only-big", "image_url": url, "metadata": {"pad": ""}}
    pad = size - len(json.dumps(body).encode())
    body["metadata"] = {"pad": "p" * pad}
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


def test_poison_posts_become_dead_letters_and_the_process_goes_on(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
    consumer_processes: list[ConsumerProcess],
    tmp_path: Path,
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    image_server.add_status("/fails", 500)
    poison = {
        "nested": b"[" * 100_000,
        "invalid-big": (b'{"post_id": "invalid-big", "text": "' + b"x" * NEAR_LIMIT)[:NEAR_LIMIT],
        "image-only-big": _padded_image_only(image_server.url("/fails"), NEAR_LIMIT),
    }
    assert len(poison["invalid-big"]) + 4096 > PRODUCER_MAX_MESSAGE_BYTES  # its letter cannot fit whole
    after = [post(f"after-{i}", text=f"an ordinary post {i}") for i in range(6)]
    landed = produce(settings, [*poison.items(), *after])

    reader = outputs_of(settings)
    proc = ConsumerProcess(settings, tmp_path / "consume.log")
    consumer_processes.append(proc)
    outputs = reader.wait_for(len(poison) + len(after), timeout_s=120, settle_s=2.0)

    dead = outputs.dead_by_key()
    assert sorted(dead) == sorted(poison), proc.log()[-3000:]
    assert all(len(letters) == 1 for letters in dead.values())
    nested = dead["nested"][0]
    assert (nested.headers["stage"], nested.headers["error.type"]) == ("decode", "too_deep")
    assert nested.value == poison["nested"] and "truncated" not in nested.headers
    expected = {"invalid-big": ("decode", "not_json"), "image-only-big": ("fetch", "http_500")}
    for key, (stage, error_type) in expected.items():
        letter = dead[key][0]
        assert (letter.headers["stage"], letter.headers["error.type"]) == (stage, error_type)
        assert letter.headers["truncated"] == "reference"
        body = json.loads(letter.value or b"")
        assert body["length"] == len(poison[key])
        assert body["sha256"] == hashlib.sha256(poison[key]).hexdigest()
        partition, offset = landed[key]
        assert body["source"] == {"topic": settings.topics.posts, "partition": partition, "offset": offset}
        assert poison[key].decode().startswith(body["head"])

    results = outputs.by_post()
    assert sorted(results) == sorted(key for key, _ in after)
    assert all(len(r) == 1 and r[0].image_status == "absent" for r in results.values())

    # the committed offsets move past every one of them
    ends: dict[int, int] = {}
    for partition, offset in landed.values():
        ends[partition] = max(ends.get(partition, 0), offset + 1)

    def committed_past() -> bool:
        committed = committed_offsets(settings)
        return all(committed.get(p, 0) >= end for p, end in ends.items())

    wait_until(committed_past, 30, f"committed offsets {ends}")
    assert proc.process.poll() is None, "the consumer process died"
    log = proc.log()
    assert "Traceback" not in log, log[-3000:]

    proc.signal(signal.SIGTERM)
    assert proc.wait(60) == 0, proc.log()[-3000:]
