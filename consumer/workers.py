"""The two pipeline threads behind the poll loop: preprocessing + batching, and the model's owner thread.

    poll loop ──jobs──► PrepWorker ──(predictor, batch)──► ModelWorker ──► Outlet (results, dead letters)
                        prepare each post (tokenize,         predict_each (bisects a failing batch),
                        decode the image), micro-batch        one Result or one dead letter per post

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
from datetime import UTC, datetime
from typing import Any, Protocol

from consumer.batcher import BatchLimits, MicroBatcher
from consumer.errors import Action, ImageUnavailable, ModelFailed, PostError, action_for, post_error
from consumer.faults import FaultInjector
from consumer.metrics import ConsumerMetrics
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
from model.preprocess import ImageDecodeError

log = logging.getLogger(__name__)


class Predictor(Protocol):
    version: str

    def prepare(self, text: str | None, image_bytes: bytes | None) -> Any: ...
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
    ) -> None:
        self._current = current
        self._faults = faults or FaultInjector()
        self._outlet = outlet
        self._batches = batches
        self._clock = clock
        self._metrics = metrics
        self._batcher: MicroBatcher[Job] = MicroBatcher(limits, clock=clock)
        self._predictor: Predictor | None = None
        self.inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued, send the last batch, and tell the model worker to stop."""
        self.inbox.put(None)
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            deadline = self._batcher.deadline()
            wait = 0.5 if deadline is None else max(0.0, deadline - self._clock())
            try:
                job = self.inbox.get(timeout=wait)
            except queue.Empty:
                self._send(self._batcher.due())
                continue
            if job is None:
                self._send(self._batcher.flush())
                self._batches.put(None)
                return
            self._faults.tick("prep")  # TEST ONLY hook; outside the handler below, so it ends the thread
            try:
                self._take(job)
            except Exception as exc:  # a bug must not cost the post its outcome, nor end this thread
                log.exception("preprocessing %s failed", job.where)
                _settle(self._outlet, job, post_error(exc, stage="preprocess", where=job.where))
            try:
                self._send(self._batcher.due())
            except Exception:  # the batch stays in the batcher; the next round sends it
                log.exception("closing a batch failed")

    def _take(self, job: Job) -> None:
        predictor = self._current()
        if predictor is None:  # cannot happen: the poll loop only runs once a model serves
            raise RuntimeError("no model loaded")
        if predictor is not self._predictor:
            self._send(self._batcher.flush())  # swap between batches
            self._predictor = predictor
        prepared = self._prepare(job, predictor)
        if prepared is None:
            return
        job.prepared = prepared
        job.batched_at = self._clock()
        self._metrics.image_status.labels(status=job.image_status).inc()
        has_image = getattr(prepared, "image", None) is not None
        for batch in self._batcher.add(job, tokens=int(prepared.n_tokens), images=int(has_image)):
            self._send(batch)

    def _prepare(self, job: Job, predictor: Predictor) -> Any:
        post = job.post
        assert post is not None
        try:
            job.image_status, image = image_outcome(post, job.fetch, job.where)
        except ImageUnavailable as exc:
            assert action_for(exc) is Action.DEAD_LETTER
            _settle(self._outlet, job, exc)
            return None
        try:
            return predictor.prepare(post.text, image)
        except ImageDecodeError as exc:
            try:
                job.image_status = decode_outcome(post, exc.reason, job.where)
            except ImageUnavailable as unavailable:
                assert action_for(unavailable) is Action.DEAD_LETTER
                _settle(self._outlet, job, unavailable)
                return None
            return predictor.prepare(post.text, None)

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
