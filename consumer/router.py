"""Where each taken post goes next, decided on the poll loop (the fetcher's callback only queues):

    cached result (a hit at intake, or after its image arrived)   ─► the outlet publishes it
    an image to fetch                                             ─► the background fetcher, then a lookup
    anything else (a miss, a failed or blocked image, no cache)   ─► the prep worker

Cache lookups (consumer/cache_lookup.py) are keyed by what is scored, so a post with an image is looked up
only once its bytes are in: fetching is I/O and concurrent, the model is the cost. Each lookup is one
batched call on the poll thread, bounded by MODSTREAM_REDIS__TIMEOUT_S (consumer/redis_cache.py); a failing
cache is all misses (DEGRADE), a fetch that cannot start is a failed image (DEGRADE): never a lost post.
"""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consumer.errors import action_for, as_error
from consumer.image_budget import ImageBudget
from consumer.metrics import ConsumerMetrics
from consumer.routing import Job, from_cache
from events.content import image_digest
from events.schemas import Result

if TYPE_CHECKING:
    from consumer.assembly import Parts

log = logging.getLogger(__name__)


@dataclass
class _FailedFetch:
    status: str
    data: bytes | None
    reason: str | None


class Router:
    """`parts`: the service's assembled components (read on each call: they are built after this)."""

    def __init__(
        self, parts: Callable[[], Parts], images: ImageBudget, metrics: ConsumerMetrics, poll_batch: int
    ) -> None:
        self._parts = parts
        self.images = images
        self.metrics = metrics
        self._poll_batch = poll_batch
        # posts whose image arrived, for the poll loop's next batched lookup (bounded by the image budget)
        self._fetched_jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()

    def route(self, job: Job, cached: Result | None) -> None:
        parts = self._parts()
        if cached is not None and self._serve_cached(parts, job, cached):
            return
        if job.post is not None and job.post.image_url is not None:
            self.images.started()
            try:
                future = parts.fetcher.submit(job.post.image_url)
            except Exception as exc:  # the fetcher refused the job itself: the image failed (DEGRADE)
                error = as_error(exc, stage="fetch", where=job.where)
                log.warning("image fetch not started (%s): %s", action_for(error).value, error)
                job.fetch = _FailedFetch("failed", None, error.reason)
                self.images.finished()
                parts.prep.inbox.put(job)
                return
            future.add_done_callback(functools.partial(self._fetched, job))
        else:
            parts.prep.inbox.put(job)

    def lookup(self, jobs: list[Job], *, early: bool) -> list[Result | None]:
        """One batched cache lookup (`early`: at intake; else: their image arrived); a failing cache is all
        misses (DEGRADE), never a lost record."""
        parts = self._parts()
        lookup, current = parts.lookup, parts.manager.current
        if lookup is None or not jobs or current is None:
            return [None] * len(jobs)
        started = time.monotonic()
        try:
            found, wanted = lookup.lookup(jobs, current, early=early)
        except Exception as exc:
            error = as_error(exc, stage="cache")
            log.warning("cache lookup skipped (%s): %s", action_for(error).value, error)
            return [None] * len(jobs)
        finally:
            self.metrics.cache_lookup_seconds.observe(time.monotonic() - started)
        hits = sum(r is not None for r in found)
        self.metrics.cache.labels(outcome="hit").inc(hits)
        self.metrics.cache.labels(outcome="miss").inc(wanted - hits)
        return found

    def lookup_fetched(self) -> None:
        """Posts whose image arrived: one batched lookup by their bytes' sha256; hits are published, misses
        go to be scored."""
        jobs: list[Job] = []
        while len(jobs) < self._poll_batch:
            try:
                jobs.append(self._fetched_jobs.get_nowait())
            except queue.Empty:
                break
        if not jobs:
            return
        parts = self._parts()
        for job, cached in zip(jobs, self.lookup(jobs, early=False), strict=True):
            if cached is None or not self._serve_cached(parts, job, cached):
                parts.prep.inbox.put(job)

    @staticmethod
    def _serve_cached(parts: Parts, job: Job, cached: Result) -> bool:
        """Publish the post's result from the cache; False when it cannot be served: then it is a miss
        (DEGRADE), not a loss, at intake as after the fetch."""
        try:
            parts.outlet.publish(job, from_cache(cached, job.where.post_id or "", datetime.now(UTC)))
            return True
        except Exception as exc:
            error = as_error(exc, stage="cache", where=job.where)
            log.warning("cached result not served (%s): %s", action_for(error).value, error)
            return False

    def _fetched(self, job: Job, future: Future[Any]) -> None:
        self.images.finished()
        parts = self._parts()
        try:
            job.fetch = future.result()
        except Exception as exc:  # cancelled at shutdown, or a fetcher bug: the image failed (DEGRADE)
            error = as_error(exc, stage="fetch", where=job.where)
            job.fetch = _FailedFetch("failed", None, error.reason)
        fetch = job.fetch
        if fetch is None or fetch.status != "ok" or not isinstance(fetch.data, bytes):
            parts.prep.inbox.put(job)  # failed or blocked: never cached, so never looked up
            return
        job.image_sha256 = image_digest(fetch.data)  # hashed here, on the fetcher's thread
        job.image_status = "ok"
        if parts.lookup is None:
            parts.prep.inbox.put(job)
        else:
            self._fetched_jobs.put(job)  # the poll loop looks it up: one caller per cache direction
