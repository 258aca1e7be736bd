"""The two pipeline threads behind the poll loop: preprocessing + batching, and the model's owner thread.

    poll loop ──jobs──► PrepWorker ──(predictor, batch)──► ModelWorker ──► Outlet (results, dead letters)
                        prepare each post (tokenize,         predict_each (bisects a failing batch),
                        decode the image), micro-batch        one Result or one dead letter per post

With a prep pool (consumer.prep_pool, `MODSTREAM_PREP__WORKERS` > 0), the prep thread only hands each
image to the pool and goes on; the decoded (3, S, S) uint8 image comes back through the same inbox
(`Decoded`). Images decode in parallel, in processes a bomb can kill without touching this one. Without a
pool (0), images decode here, inline. Either way, posts whose image is settled are tokenised together, with
one call of the fast tokenizer's batch encoder, once the inbox is empty (or READY_MAX wait), then batched:
one call per group costs a fraction of one call per post.

The model runs on one thread while the next batch is prepared on the other. A batch is prepared with one
predictor and scored with the same one: when the model manager swaps versions, the open batch is closed
first, so a swap happens between batches. The batch queue between the two is small on purpose: when the
model is the bottleneck, preprocessing waits instead of piling up tensors.

Neither thread may be ended by one post: whatever a post raises becomes its dead letter (errors.post_error,
the table's DEAD_LETTER rows), and the outlet's `dead_letter` never raises (a refused letter is a failed
delivery, errors.py). `_settle` is the last guard should an outlet break that promise.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from consumer.batcher import BatchLimits, MicroBatcher
from consumer.errors import Action, ImageUnavailable, ModelFailed, PostError, action_for, post_error
from consumer.faults import FaultInjector
from consumer.metrics import ConsumerMetrics
from consumer.prep_pool import Decoded as DecodedImage
from consumer.prep_pool import PoolBroken, PrepPool
from consumer.routing import (
    Job,
    decode_outcome,
    image_outcome,
    make_result,
    non_finite,
    predict_each,
    scored_content_id,
)
from events.schemas import Result
from model.images import DecodeLimits
from model.preprocess import ImageDecodeError

log = logging.getLogger(__name__)


class Predictor(Protocol):
    version: str

    @property
    def decode_limits(self) -> DecodeLimits: ...  # only read with a prep pool
    def prepare_image(self, image_bytes: bytes) -> Any: ...  # without a pool: decode inline
    def prepare_decoded_many(
        self, items: Sequence[tuple[str | None, Any]], image_keys: Sequence[str | None] | None = None
    ) -> Sequence[Any]: ...
    def prepare_decoded(
        self, text: str | None, image: Any, *, image_key: str | None = None
    ) -> Any: ...  # a failed group, one by one
    def predict_prepared(self, posts: Sequence[Any]) -> Sequence[Any]: ...


class Outlet(Protocol):
    """Where finished posts go; callable from any thread."""

    def publish(self, job: Job, result: Result) -> None: ...
    def dead_letter(self, job: Job, error: PostError) -> None: ...


def _settle(outlet: Outlet, job: Job, error: PostError) -> None:
    """Dead-letter `job`; an outlet that raises anyway costs this post its outcome, never the thread."""
    try:
        outlet.dead_letter(job, error)
    except Exception:
        log.exception("dead letter of %s could not be handed to the outlet", job.where)


Batch = tuple[Predictor, list[Job]]
READY_MAX = 64  # posts tokenised by one call at most


@dataclass(eq=False)
class Decoded:
    """A pool's answer for one job's image, back on the prep thread's inbox."""

    job: Job
    outcome: DecodedImage


class PrepWorker:
    """Prepares posts whose image (if any) has arrived, and closes micro-batches for the model."""

    def __init__(
        self,
        current: Callable[[], Predictor | None],
        limits: BatchLimits,
        outlet: Outlet,
        batches: queue.Queue[Batch | None],
        *,
        clock: Callable[[], float],
        metrics: ConsumerMetrics,
        faults: FaultInjector | None = None,
        pool: PrepPool | None = None,
    ) -> None:
        self._current = current
        self._pool = pool
        self._decoding = 0  # images handed to the pool whose answer has not come back
        # Posts whose image is settled, tokenised together (one tokenizer call) once the inbox is empty or
        # READY_MAX of them wait, so under load one call serves about one batch.
        self._ready: list[tuple[Job, Any]] = []
        self._closing = False
        self._faults = faults or FaultInjector()
        self._outlet = outlet
        self._batches = batches
        self._clock = clock
        self._metrics = metrics
        self._batcher: MicroBatcher[Job] = MicroBatcher(limits, clock=clock)
        self._predictor: Predictor | None = None
        # Jobs from the poll loop, the pool's answers, None = close. Unbounded on purpose: the poll loop's
        # in-flight bound (and the image budget) bound it, and the pool's threads must never block on it.
        self.inbox: queue.SimpleQueue[Job | Decoded | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued (images in the pool included), send the last batch, and tell the model
        worker to stop."""
        self.inbox.put(None)
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            deadline = self._batcher.deadline()
            wait = 0.5 if deadline is None else max(0.0, deadline - self._clock())
            try:
                item = self.inbox.get(timeout=wait)
            except queue.Empty:
                self._send(self._batcher.due())
                continue
            if item is None:
                self._closing = True
            else:
                if isinstance(item, Job):
                    self._faults.tick("prep")  # TEST ONLY hook; outside the handler below: ends the thread
                job = item.job if isinstance(item, Decoded) else item
                try:
                    if isinstance(item, Decoded):
                        self._decoding -= 1
                        self._finish(item)
                    else:
                        self._take(item)
                except Exception as exc:  # a bug must not cost the post its outcome, nor end this thread
                    log.exception("preprocessing %s failed", job.where)
                    _settle(self._outlet, job, post_error(exc, stage="preprocess", where=job.where))
            if len(self._ready) >= READY_MAX or self.inbox.empty() or self._closing:
                self._tokenise_ready()
            if self._closing and self._decoding == 0:
                self._send(self._batcher.flush())
                self._batches.put(None)
                return
            try:
                self._send(self._batcher.due())
            except Exception:  # the batch stays in the batcher; the next round sends it
                log.exception("closing a batch failed")

    def _serving(self) -> Predictor:
        predictor = self._current()
        if predictor is None:  # cannot happen: the poll loop only runs once a model serves
            raise RuntimeError("no model loaded")
        if predictor is not self._predictor:
            self._tokenise_ready()  # with the version that decoded their images
            self._send(self._batcher.flush())  # swap between batches
            self._predictor = predictor
        return predictor

    def _take(self, job: Job) -> None:
        predictor = self._serving()
        if self._pool is not None:
            self._submit(job, predictor)
        else:
            self._decode_inline(job, predictor)

    def _submit(self, job: Job, predictor: Predictor) -> None:
        """Hand the job's image to the pool (its answer comes back as a `Decoded`); a post without an
        image to decode is prepared at once."""
        post = job.post
        assert post is not None and self._pool is not None
        try:
            job.image_status, image = image_outcome(post, job.fetch, job.where)
        except ImageUnavailable as exc:
            _settle(self._outlet, job, exc)
            return
        if image is None:
            self._ready.append((job, None))
            return
        inbox = self.inbox
        try:
            self._pool.submit(
                image, predictor.decode_limits, lambda outcome: inbox.put(Decoded(job, outcome))
            )
        except PoolBroken:
            # No outcome on purpose: the supervisor sees the broken pool (a dead stage), the consumer
            # stops without committing past this post, and its restart scores it.
            log.error("the prep pool is broken; %s is left for the restarted consumer", job.where)
            return
        self._decoding += 1

    def _finish(self, decoded: Decoded) -> None:
        job, outcome = decoded.job, decoded.outcome
        post = job.post
        assert post is not None
        predictor = self._serving()
        if isinstance(outcome, ImageDecodeError):
            try:
                job.image_status = decode_outcome(post, outcome.reason, job.where)
            except ImageUnavailable as unavailable:
                _settle(self._outlet, job, unavailable)
                return
            self._ready.append((job, None))
            return
        if outcome.shape[-1] != predictor.decode_limits.size:  # decoded for the version before a swap
            self._submit(job, predictor)
            return
        self._ready.append((job, outcome))

    def _tokenise_ready(self) -> None:
        """Tokenise every ready post in one call and batch them; a failing call is retried post by post, so
        only a culprit is dead-lettered."""
        if not self._ready:
            return
        ready, self._ready = self._ready, []
        predictor = self._predictor
        assert predictor is not None
        items = [(job.post.text if job.post is not None else None, image) for job, image in ready]
        # the feature cache's key: the sha256 of the image bytes, hashed when the fetch arrived
        keys = [job.image_sha256 if image is not None else None for job, image in ready]
        try:
            prepared: Sequence[Any] | None = predictor.prepare_decoded_many(items, keys)
            if prepared is not None and len(prepared) != len(ready):
                raise RuntimeError(f"{len(prepared)} prepared posts for {len(ready)}")
        except Exception:
            log.exception("tokenising %d posts together failed; one by one", len(ready))
            prepared = None
        for i, (job, image) in enumerate(ready):
            try:
                text = job.post.text if job.post is not None else None
                key = keys[i]
                self._batch(
                    job,
                    prepared[i]
                    if prepared is not None
                    else predictor.prepare_decoded(text, image, image_key=key),
                )
            except Exception as exc:
                log.exception("preprocessing %s failed", job.where)
                _settle(self._outlet, job, post_error(exc, stage="preprocess", where=job.where))

    def _batch(self, job: Job, prepared: Any) -> None:
        job.prepared = prepared
        job.batched_at = self._clock()
        self._metrics.image_status.labels(status=job.image_status).inc()
        has_image = getattr(prepared, "image", None) is not None
        for batch in self._batcher.add(job, tokens=int(prepared.n_tokens), images=int(has_image)):
            self._send(batch)

    def _decode_inline(self, job: Job, predictor: Predictor) -> None:
        """Without a pool: decode the job's image here; the post joins the ready group either way."""
        post = job.post
        assert post is not None
        try:
            job.image_status, image_bytes = image_outcome(post, job.fetch, job.where)
        except ImageUnavailable as exc:
            assert action_for(exc) is Action.DEAD_LETTER
            _settle(self._outlet, job, exc)
            return
        image = None
        if image_bytes is not None:
            try:
                image = predictor.prepare_image(image_bytes)
            except ImageDecodeError as exc:
                try:
                    job.image_status = decode_outcome(post, exc.reason, job.where)
                except ImageUnavailable as unavailable:
                    assert action_for(unavailable) is Action.DEAD_LETTER
                    _settle(self._outlet, job, unavailable)
                    return
        self._ready.append((job, image))

    def _send(self, batch: list[Job] | None) -> None:
        if batch:
            assert self._predictor is not None
            self._batches.put((self._predictor, batch))


class ModelWorker:
    """The model's one owner thread: scores each batch and hands every post its outcome."""

    def __init__(
        self,
        batches: queue.Queue[Batch | None],
        outlet: Outlet,
        *,
        clock: Callable[[], float],
        metrics: ConsumerMetrics,
        faults: FaultInjector | None = None,
    ) -> None:
        self._batches = batches
        self._faults = faults or FaultInjector()
        self._outlet = outlet
        self._clock = clock
        self._metrics = metrics
        self._thread = threading.Thread(target=self._run, name="model", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            item = self._batches.get()
            if item is None:
                return
            predictor, jobs = item
            self._faults.tick(
                "model"
            )  # TEST ONLY hook, outside the handler below: ends the thread when armed
            try:
                self.score(predictor, jobs)
            except Exception as exc:  # before any post had its outcome (score hands them out last)
                log.exception("scoring a batch of %d failed", len(jobs))
                for job in jobs:
                    _settle(self._outlet, job, post_error(exc, stage="model", where=job.where))

    def score(self, predictor: Predictor, jobs: list[Job]) -> None:
        started = self._clock()
        for job in jobs:
            self._metrics.queue_wait.observe(max(0.0, started - job.batched_at))
        outcomes = predict_each(predictor.predict_prepared, [job.prepared for job in jobs])
        self._metrics.inference.observe(self._clock() - started)
        self._metrics.batch_size.observe(len(jobs))
        now = datetime.now(UTC)
        for job, outcome in zip(jobs, outcomes, strict=True):  # from here on, nothing raises
            try:
                if isinstance(outcome, ModelFailed):
                    outcome.where = job.where
                    _settle(self._outlet, job, outcome)
                    continue
                assert job.post is not None
                broken = non_finite(outcome, job.where)
                if broken is not None:  # a broken model never publishes "not flagged", nor caches it
                    self._metrics.non_finite.inc()
                    _settle(self._outlet, job, broken)
                    continue
                result = make_result(
                    job.post.post_id,
                    outcome,
                    model_version=predictor.version,
                    image_status=job.image_status,
                    now=now,
                    content_id=scored_content_id(job),
                )
                self._outlet.publish(job, result)
            except Exception as exc:
                log.exception("publishing %s failed", job.where)
                _settle(self._outlet, job, post_error(exc, stage="model", where=job.where))
