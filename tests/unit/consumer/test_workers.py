"""The prep and model workers with a fake predictor and a recording outlet: every post gets exactly one
outcome, a poisoned post is the only one dead-lettered, and a model swap happens between batches."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consumer.batcher import BatchLimits
from consumer.errors import PostError, Where
from consumer.metrics import ConsumerMetrics
from consumer.routing import Job
from consumer.workers import Batch, ModelWorker, PrepWorker
from events.schemas import Post, Result
from model.preprocess import ImageDecodeError

LABELS = ("NotHate", "Racist", "Sexist", "Homophobe")


@dataclass
class Prepared:
    text: str | None
    image: bytes | None
    version: str

    @property
    def n_tokens(self) -> int:
        return len((self.text or "").split())


@dataclass
class Pred:
    scores: dict[str, float]
    top: list[tuple[str, float]]
    flagged: bool


class FakePredictor:
    def __init__(self, version: str) -> None:
        self.version = version
        self.batches: list[list[str | None]] = []
        self.groups: list[int] = []  # posts per tokenizer call

    def prepare_image(self, image_bytes: bytes) -> bytes:
        if image_bytes == b"broken":
            raise ImageDecodeError("undecodable", "cannot decode")
        return image_bytes

    def prepare_decoded(self, text: str | None, image: Any, *, image_key: str | None = None) -> Prepared:
        return Prepared(text, image, self.version)

    def prepare_decoded_many(
        self, items: Sequence[tuple[str | None, Any]], image_keys: Sequence[str | None] | None = None
    ) -> list[Prepared]:
        self.groups.append(len(items))
        return [self.prepare_decoded(text, image) for text, image in items]

    def predict_prepared(self, posts: Sequence[Prepared]) -> list[Pred]:
        self.batches.append([p.text for p in posts])
        if any(p.version != self.version for p in posts):
            raise AssertionError("a batch prepared by one version was scored by another")
        if any(p.text == "poison" for p in posts):
            raise RuntimeError("NaN in the forward pass")
        out = []
        for p in posts:
            scores = {label: (len(p.text or "") * (i + 1)) % 10 / 10 for i, label in enumerate(LABELS)}
            out.append(Pred(scores, sorted(scores.items(), key=lambda kv: -kv[1])[:3], False))
        return out


class RecordingOutlet:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: dict[str, Result] = {}
        self.dead: dict[str, PostError] = {}
        self.count = 0

    def publish(self, job: Job, result: Result) -> None:
        with self.lock:
            self.results[job.where.post_id or ""] = result
            self.count += 1

    def dead_letter(self, job: Job, error: PostError) -> None:
        with self.lock:
            self.dead[job.where.post_id or ""] = error
            self.count += 1


@dataclass
class Fetched:
    status: str
    data: bytes | None
    reason: str | None


def _job(i: int, text: str | None, url: str | None = None, fetch: Fetched | None = None) -> Job:
    job = Job(Where("posts", 0, i, f"p{i}"), f"p{i}".encode(), b"{}", consumed_at=0.0)
    job.post = Post(post_id=f"p{i}", text=text, image_url=url)
    job.fetch = fetch
    return job


def _pipeline(current: Any) -> tuple[PrepWorker, ModelWorker, RecordingOutlet]:
    outlet = RecordingOutlet()
    batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
    metrics = ConsumerMetrics()
    clock = iter(range(10**9)).__next__  # strictly increasing fake time: every batch waits "long enough"
    limits = BatchLimits(max_size=4, max_wait_s=1e9, max_tokens=10_000, max_images=8)
    prep = PrepWorker(current, limits, outlet, batches, clock=lambda: float(clock()), metrics=metrics)
    model = ModelWorker(batches, outlet, clock=lambda: 0.0, metrics=metrics)
    return prep, model, outlet


def test_every_post_gets_exactly_one_outcome() -> None:
    predictor = FakePredictor("v1")
    prep, model, outlet = _pipeline(lambda: predictor)
    ok = Fetched("ok", b"png", None)
    jobs = [
        _job(0, "hello there"),
        _job(1, "poison"),  # fails in the model: only this one is dead-lettered
        _job(2, "with image", "http://x/a.png", ok),
        _job(3, None, "http://x/b.png", ok),
        _job(4, "image 404", "http://x/c.png", Fetched("failed", None, "http_404")),
        _job(5, None, "http://x/d.png", Fetched("blocked", None, "private_address")),
        _job(6, "broken image", "http://x/e.png", Fetched("ok", b"broken", None)),
        _job(7, None, "http://x/f.png", Fetched("ok", b"broken", None)),
        *[_job(i, f"filler {i}") for i in range(8, 30)],
    ]
    prep.start()
    model.start()
    for job in jobs:
        prep.inbox.put(job)
    prep.close()
    model.join(5)
    assert outlet.count == len(jobs)
    assert set(outlet.results) | set(outlet.dead) == {f"p{i}" for i in range(30)}
    assert {pid: (e.stage, e.reason) for pid, e in outlet.dead.items()} == {
        "p1": ("model", "RuntimeError"),
        "p5": ("fetch", "private_address"),
        "p7": ("decode", "undecodable"),
    }
    statuses = {pid: r.image_status for pid, r in outlet.results.items()}
    assert (statuses["p0"], statuses["p2"], statuses["p3"], statuses["p4"], statuses["p6"]) == (
        "absent",
        "ok",
        "ok",
        "failed",
        "failed",
    )
    assert all(r.model_version == "v1" and len(r.labels) == 3 for r in outlet.results.values())


def test_a_swap_closes_the_open_batch() -> None:
    predictors = {"v1": FakePredictor("v1"), "v2": FakePredictor("v2")}
    serving = ["v1"]
    prep, model, outlet = _pipeline(lambda: predictors[serving[0]])
    prep.start()
    for i in range(3):
        prep.inbox.put(_job(i, f"before {i}"))
    # wait until the three posts are in the open batch, then swap
    while len(prep._batcher) < 3:
        threading.Event().wait(0.001)
    serving[0] = "v2"
    for i in range(3, 6):
        prep.inbox.put(_job(i, f"after {i}"))
    model.start()
    prep.close()
    model.join(5)
    assert predictors["v1"].batches == [["before 0", "before 1", "before 2"]]
    assert predictors["v2"].batches == [["after 3", "after 4", "after 5"]]
    assert {r.model_version for pid, r in outlet.results.items() if pid in ("p0", "p1", "p2")} == {"v1"}
    assert {r.model_version for pid, r in outlet.results.items() if pid in ("p3", "p4", "p5")} == {"v2"}


def test_inline_decoding_tokenises_ready_posts_together() -> None:
    """Without a pool too, posts waiting together take one tokenizer call between them, not one each."""
    predictor = FakePredictor("v1")
    prep, model, outlet = _pipeline(lambda: predictor)
    ok = Fetched("ok", b"png", None)
    jobs = [_job(i, f"post {i}", "http://x/a.png" if i % 3 == 0 else None, ok) for i in range(40)]
    for job in jobs:  # all queued before the thread starts: they are ready together
        prep.inbox.put(job)
    prep.start()
    model.start()
    prep.close()
    model.join(5)
    assert len(outlet.results) == 40
    assert sum(predictor.groups) == 40
    assert predictor.groups == [40]  # READY_MAX (64) is more than 40: one call
