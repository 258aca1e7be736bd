"""Where each post ends: its Result on the results topic, or its original bytes on the dead-letter topic.

Callable from any thread. Delivery reports are not acted on here: each becomes a `Completion` on a
thread-safe queue that the poll loop drains, so the offset ledger has exactly one owner thread. Cache
writes (signed entries, consumer.cache_lookup) go to a writer thread of their own, so Redis never slows the
model thread.

    >>> outlet = KafkaOutlet(sink, settings.topics, cache_write=writer.put)
    >>> outlet.publish(job, result)          # later: outlet.completions.get() -> Completion(error=None)

`publish` and `dead_letter` never raise: whatever goes wrong while building or producing one output
becomes that output's Completion with an error (the poll loop then decides, errors.action_for), so a
stage that hands over a post can never be ended by it. A dead letter whose original plus headers would not
fit in what the producer accepts goes out as a reference letter (events/dead_letter.py); so does one that
the producer or broker refuses as too large.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consumer.errors import PostError, action_for, as_error, post_error
from consumer.kafka_sink import Headers, KafkaSink
from consumer.routing import Job, cacheable
from events.dead_letter import dead_letter_headers, fits, reference_letter
from events.kafka import PRODUCER_MAX_MESSAGE_BYTES
from events.schemas import Result, encode
from events.settings import TopicSettings

log = logging.getLogger(__name__)

# Delivery errors that mean "this message is too large": a full dead letter refused so is resent as a
# reference letter. (librdkafka's name at produce(), and the broker's answer after it.)
_TOO_LARGE = ("MSG_SIZE_TOO_LARGE", "MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE")


@dataclass
class Completion:
    """The broker's answer for one post's output (`error` None = acknowledged)."""

    job: Job
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    error: str | None = None
    attempts: int = 1
    cached: bool = False
    stage: str | None = None  # dead letters: the stage and reason
    reason: str | None = None
    reference: bool = False  # a reference letter standing in for a dead letter too large to send


class KafkaOutlet:
    def __init__(
        self,
        sink: KafkaSink,
        topics: TopicSettings,
        *,
        cache_write: Callable[[str, bytes], None] | None = None,
        cache_entries: Callable[[Job, Result], Sequence[tuple[str, bytes]]] | None = None,
    ) -> None:
        self._sink = sink
        self._topics = topics
        self._cache_write = cache_write
        self._cache_entries = cache_entries  # (job, result) -> signed (key, value) pairs, maybe none
        self.completions: queue.SimpleQueue[Completion] = queue.SimpleQueue()

    @property
    def max_message_bytes(self) -> int:
        return int(getattr(self._sink, "max_message_bytes", PRODUCER_MAX_MESSAGE_BYTES))

    def publish(self, job: Job, result: Result) -> None:
        try:
            value = encode(result)
            completion = Completion(
                job, self._topics.results, result.post_id.encode("utf-8"), value, None, cached=result.cached
            )
        except Exception as exc:  # not for a validated Result; if it happens, it is this post's failure
            self.dead_letter(job, post_error(exc, stage="model", where=job.where))
            return
        self._send(completion)
        if self._cache_write is None or self._cache_entries is None or job.post is None:
            return
        if not result.cached and cacheable(result):
            try:
                for key, signed in self._cache_entries(job, result):
                    self._cache_write(key, signed)
            except Exception as exc:  # the table says DEGRADE: a lost write costs one recomputation
                error = as_error(exc, stage="cache", where=job.where)
                log.warning("cache write skipped (%s): %s", action_for(error).value, error)

    def dead_letter(self, job: Job, error: PostError) -> None:
        where = job.where
        completion = Completion(
            job, self._topics.dlq, job.key, job.raw, None, stage=error.stage, reason=error.reason
        )
        try:
            completion.headers = [
                *dead_letter_headers(
                    stage=error.stage,
                    error_type=error.reason,
                    message=error.message,
                    topic=where.topic,
                    partition=where.partition,
                    offset=where.offset,
                ),
                *job.replay,  # a replayed post that failed again keeps its replay count
            ]
            if not fits(job.key, job.raw, completion.headers, self.max_message_bytes):
                self._as_reference(completion)
        except Exception as exc:
            self._fail(completion, exc)
            return
        log.info(
            "dead letter %s: stage=%s reason=%s%s",
            where,
            error.stage,
            error.reason,
            " (reference letter)" if completion.reference else "",
        )
        self._send(completion)

    def resend(self, completion: Completion) -> None:
        """Publish a refused output again (the delivery failure table says RETRY). A full dead letter that
        was refused as too large goes again as a reference letter, which always fits."""
        too_large = any(name in (completion.error or "") for name in _TOO_LARGE)
        completion.error = None
        completion.attempts += 1
        if too_large and completion.topic == self._topics.dlq and not completion.reference:
            try:
                self._as_reference(completion)
            except Exception as exc:
                self._fail(completion, exc)
                return
        self._send(completion)

    def _as_reference(self, completion: Completion) -> None:
        where = completion.job.where
        key, value, headers = reference_letter(
            completion.job.key,
            completion.job.raw,
            [(name, v) for name, v in completion.headers or [] if isinstance(v, bytes)],
            source=(where.topic, where.partition, where.offset),
        )
        completion.key, completion.value, completion.headers = key, value, list(headers)
        completion.reference = True

    def _send(self, completion: Completion) -> None:
        def report(error: str | None) -> None:
            completion.error = error
            self.completions.put(completion)

        try:
            self._sink.produce(
                completion.topic, completion.key, completion.value, completion.headers, on_delivery=report
            )
        except Exception as exc:  # the sink reports refusals itself; this is the last line for a bug
            self._fail(completion, exc)

    def _fail(self, completion: Completion, exc: Exception) -> None:
        """A failure before the producer had the output: a failed delivery (the table says RETRY; the
        poll loop retries, then stops), never an exception out of the caller's stage."""
        error = as_error(exc, stage="publish", where=completion.job.where)
        log.error("output for %s failed before it reached the producer: %s", completion.job.where, error)
        completion.error = str(error)[:500]
        self.completions.put(completion)


class CacheWriter:
    """Writes results to the cache in small batches on a thread of its own; drops them if it falls behind
    (a cache is an optimisation: losing a write costs one recomputation)."""

    def __init__(
        self, set_many: Callable[[Sequence[tuple[str, bytes]]], None], *, max_queue: int = 10_000
    ) -> None:
        self._set_many = set_many
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="cache-writer", daemon=True)
        self._thread.start()

    def put(self, key: str, value: bytes) -> None:
        try:
            self._queue.put_nowait((key, value))
        except queue.Full:
            log.warning("cache writer behind; dropping a write")

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout_s: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            items = [] if first is None else [first]
            stop = first is None
            while not stop and len(items) < 256:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    items.append(item)
            if items:
                try:
                    self._set_many(items)
                except Exception as exc:  # the cache fails open (DEGRADE); never let it end this thread
                    error = as_error(exc, stage="cache")
                    log.warning("cache write failed (%s): %s", action_for(error).value, error)
            if stop:
                return
