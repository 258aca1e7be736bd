"""The prep thread with a real prep pool: every post gets one outcome, images that do not decode in the
pool become `failed` (or the dead letter of an image-only post), a bomb costs only its image, and the
posts that become ready together are tokenised with ONE call."""

from __future__ import annotations

import io
import queue
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from consumer.batcher import BatchLimits
from consumer.metrics import ConsumerMetrics
from consumer.prep_pool import PrepPool
from consumer.workers import Batch, ModelWorker, PrepWorker
from model.images import DecodeLimits
from tests.unit.consumer.test_workers import Fetched, Pred, RecordingOutlet, _job

SIZE = 16


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (120, 80), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Prepared:
    text: str | None
    image: np.ndarray | None

    @property
    def n_tokens(self) -> int:
        return len((self.text or "").split())


class PoolPredictor:
    """Records how posts are prepared; scores by the image's mean red level, so a wrong image shows."""

    version = "v1"
    decode_limits = DecodeLimits(size=SIZE)

    def __init__(self) -> None:
        self.group_sizes: list[int] = []

    def prepare_image(self, image_bytes: bytes) -> Prepared:
        raise AssertionError("with a pool, images are never decoded on the prep thread")

    def prepare_decoded(self, text: str | None, image: Any, *, image_key: str | None = None) -> Prepared:
        return self.prepare_decoded_many([(text, image)], [image_key])[0]

    def prepare_decoded_many(
        self, items: Sequence[tuple[str | None, Any]], image_keys: Sequence[str | None] | None = None
    ) -> list[Prepared]:
        self.group_sizes.append(len(items))
        assert image_keys is None or len(image_keys) == len(items)
        for _, image in items:
            assert image is None or (image.dtype == np.uint8 and image.shape == (3, SIZE, SIZE))
        return [Prepared(text, image) for text, image in items]

    def predict_prepared(self, posts: Sequence[Prepared]) -> list[Pred]:
        out = []
        for p in posts:
            red = float(p.image[0].mean()) / 255 if p.image is not None else 0.0
            scores = {"NotHate": 0.5, "Racist": red}
            out.append(Pred(scores, sorted(scores.items(), key=lambda kv: -kv[1]), False))
        return out


def _run(jobs: list[Any], pool: PrepPool) -> tuple[RecordingOutlet, PoolPredictor]:
    predictor = PoolPredictor()
    outlet = RecordingOutlet()
    batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
    metrics = ConsumerMetrics()
    limits = BatchLimits(max_size=8, max_wait_s=0.01, max_tokens=10_000, max_images=8)
    prep = PrepWorker(
        lambda: predictor, limits, outlet, batches, clock=lambda: 0.0, metrics=metrics, pool=pool
    )
    model = ModelWorker(batches, outlet, clock=lambda: 0.0, metrics=metrics)
    for job in jobs:  # all queued before the thread starts: the text-only ones are ready together
        prep.inbox.put(job)
    pool.start()
    prep.start()
    model.start()
    prep.close(timeout_s=60)
    model.join(10)
    pool.close()
    assert not prep.alive() and not model.alive()
    return outlet, predictor


def test_pool_path_gives_every_post_one_outcome_and_tokenises_ready_posts_together() -> None:
    red, blue = _png((250, 0, 0)), _png((0, 0, 250))
    heavy = _png((10, 20, 30), size=(2048, 2048), mode="RGBA")  # > the 16 MB headroom below
    ok = lambda data: Fetched("ok", data, None)  # noqa: E731
    jobs = [
        *[_job(i, f"text only {i}") for i in range(10)],
        _job(10, "red", "http://x/r.png", ok(red)),
        _job(11, None, "http://x/b.png", ok(blue)),
        _job(12, "junk", "http://x/j.png", ok(b"not an image")),
        _job(13, None, "http://x/j.png", ok(b"not an image")),
        _job(14, "bomb", "http://x/h.png", ok(heavy)),
        _job(15, None, "http://x/h.png", ok(heavy)),
        _job(16, "after the bombs", "http://x/r.png", ok(red)),
        _job(17, "404", "http://x/404.png", Fetched("failed", None, "http_404")),
    ]
    pool = PrepPool(2, headroom_bytes=16 * 1024 * 1024, task_timeout_s=30.0)
    outlet, predictor = _run(jobs, pool)

    assert outlet.count == len(jobs)
    assert set(outlet.results) | set(outlet.dead) == {f"p{i}" for i in range(len(jobs))}
    assert {pid: (e.stage, e.reason) for pid, e in outlet.dead.items()} == {
        "p13": ("decode", "not_image"),
        "p15": ("decode", "bomb"),
    }
    status = {pid: r.image_status for pid, r in outlet.results.items()}
    assert [status[f"p{i}"] for i in (10, 11, 12, 14, 16, 17)] == [
        "ok",
        "ok",
        "failed",
        "failed",
        "ok",
        "failed",
    ]
    racist = {pid: r.scores["Racist"] for pid, r in outlet.results.items()}
    assert racist["p10"] > 0.9 and racist["p16"] > 0.9 and racist["p11"] < 0.1  # each post got its own image
    assert pool.replaced == 2  # one worker per bomb
    # the ten text-only posts were queued together: one tokenizer call for all of them
    assert predictor.group_sizes[0] >= 10, predictor.group_sizes
    assert sum(predictor.group_sizes) == len(jobs) - 2  # every post but the two dead letters, once
