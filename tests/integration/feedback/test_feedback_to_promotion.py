"""Feedback in -> stored (blobs on disk) -> invalid ones dead-lettered -> retrained (tiny) -> promoted ->
a model-updates event. Real broker, real loopback image server, the real training run; in-process."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from events.dead_letter import parse_dead_letter_headers
from events.schemas import decode_model_update
from events.settings import Settings
from feedback.service import run_service
from model.labels import DEFAULT_LABELS
from tests.image_server import ImageServer, make_png
from tests.integration.feedback.conftest import (
    committed_total,
    create_topics,
    feedback,
    produce,
    read_topic,
    stored_ids,
)

N_VALID = 60  # + one whose image is gone: 61 stored


def test_feedback_is_stored_dead_lettered_trained_promoted_and_announced(
    make_settings: Callable[..., Settings], image_server: ImageServer
) -> None:
    settings = make_settings(
        fetch={"allow_hosts": [image_server.host]},
        # the count is reached only once every valid example is stored: the training sees them all
        trainer={"preset": "tiny", "retrain_min_examples": N_VALID + 1, "retrain_interval_s": 1e9},
    )
    create_topics(settings)
    labels: list[str | None] = [*DEFAULT_LABELS[1:], None]
    valid, images = [], {}
    for i in range(N_VALID):
        label = labels[i % len(labels)]
        post_id = f"p{i:03d}"
        fields: dict[str, str] = {"text": f"post number {i} about {label or 'nothing'}"}
        if i % 3 == 0:
            images[post_id] = make_png((40 * (i % 6), 200, 10 * (i % 20)), size=(24, 24))
            image_server.add_bytes(f"/{post_id}.png", images[post_id], "image/png")
            fields["image_url"] = image_server.url(f"/{post_id}.png")
        valid.append(feedback(post_id, [label] if label else [], **fields))
    image_server.add_status("/gone.png", 404)
    valid.append(
        feedback("text-survives", ["Racist"], text="has text", image_url=image_server.url("/gone.png"))
    )
    invalid = [
        ("bad-json", b"{not json"),
        feedback("bad-label", ["Spam"], text="a label nobody knows"),
        feedback("image-only-gone", ["Racist"], image_url=image_server.url("/gone.png")),
    ]
    produce(settings, valid + invalid)

    assert run_service(settings, stop_after_trainings=1, max_idle_s=120) == 0

    # stored: every valid example, images as content-addressed blobs, each fetched once
    assert stored_ids(settings) == {post_id for post_id, _ in valid}
    blobs = Path(settings.trainer.data_dir) / "blobs"
    for data in images.values():
        sha = hashlib.sha256(data).hexdigest()
        assert (blobs / sha[:2] / sha).read_bytes() == data
    assert all(image_server.requests.count(f"/{p}.png") == 1 for p in images)
    assert "/gone.png" in image_server.requests

    # dead letters: original bytes and key, headers naming the stage
    letters = read_topic(settings, settings.topics.feedback_dlq, expect=len(invalid))
    assert {(m.key(), m.value()) for m in letters} == {(k.encode(), v) for k, v in invalid}
    stages = {m.key(): parse_dead_letter_headers(m.headers()) for m in letters}  # type: ignore[arg-type]
    assert stages[b"bad-json"]["stage"] == "decode"
    assert stages[b"bad-label"]["error.type"] == "unknown_label"
    assert stages[b"image-only-gone"]["stage"] == "fetch"
    assert stages[b"bad-json"]["source.topic"] == settings.topics.feedback

    # promoted into the registry and announced once
    from model.registry import ModelRegistry

    registry = ModelRegistry(Path(settings.model.registry))
    version = registry.current()
    assert version is not None and registry.versions() == [version]
    updates = read_topic(settings, settings.topics.model_updates, expect=1)
    assert len(updates) == 1
    update = decode_model_update(updates[0].value())
    assert updates[0].key() == version.encode()
    assert update.model_version == version
    assert Path(update.path) == registry.path(version) and Path(update.path).is_dir()
    assert update.metrics, "the event carries the candidate's metrics"

    # offsets committed up to the end; the training state says everything was trained on
    assert committed_total(settings) == len(valid) + len(invalid)
    runs = list((Path(settings.trainer.data_dir) / "training").iterdir())
    assert len(runs) == 1
    snapshot = json.loads((runs[0] / "dataset.json").read_text())
    assert {row[0] for row in snapshot["examples"]} == {post_id for post_id, _ in valid}
