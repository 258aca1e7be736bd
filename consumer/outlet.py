"""Where each post ends: its Result on the results topic, or its original bytes on the dead-letter topic.

Callable from any thread. Delivery reports are not acted on here: each becomes a `Completion` on a
thread-safe queue that the poll loop drains, so the offset ledger has exactly one owner thread. Cache
writes go to a writer thread of their own, so Redis never slows the model thread.

    >>> outlet = KafkaOutlet(sink, settings.topics, cache_write=writer.put)
    >>> outlet.publish(job, result)          # later: outlet.completions.get() -> Completion(error=None)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consumer.errors import PostError
from consumer.kafka_sink import Headers, KafkaSink
from consumer.routing import Job, cacheable
from events.dead_letter import dead_letter_headers
from events.schemas import Result, encode
from events.settings import TopicSettings

log = logging.getLogger(__name__)


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


class KafkaOutlet:
    def __init__(
        self,
        sink: KafkaSink,
        topics: TopicSettings,
        *,
        cache_write: Callable[[str, bytes], None] | None = None,
        cache_key: Callable[[str, str | None, str | None], str] | None = None,
    ) -> None:
        self._sink = sink
        self._topics = topics
        self._cache_write = cache_write
        self._cache_key = cache_key  # (model_version, text, image_url) -> key
        self.completions: queue.SimpleQueue[Completion] = queue.SimpleQueue()

    def publish(self, job: Job, result: Result) -> None:
        value = encode(result)
        self._send(
            Completion(
                job, self._topics.results, result.post_id.encode("utf-8"), value, None, cached=result.cached
            )
        )
        if self._cache_write is None or self._cache_key is None or job.post is None:
            return
        if not result.cached and cacheable(result):
            # keyed by the version that scored it, which may be newer than the one looked up at intake
            self._cache_write(self._cache_key(result.model_version, job.post.text, job.post.image_url), value)

    def dead_letter(self, job: Job, error: PostError) -> None:
        where = job.where
        headers: Headers = [
            *dead_letter_headers(
                stage=error.stage,
                error_type=error.reason,
                message=error.message,
                topic=where.topic,
                partition=where.partition,
                offset=where.offset,
            )
        ]
        log.info("dead letter %s: stage=%s reason=%s", where, error.stage, error.reason)
        self._send(
            Completion(
                job, self._topics.dlq, job.key, job.raw, headers, stage=error.stage, reason=error.reason
            )
        )

    def resend(self, completion: Completion) -> None:
        """Publish a refused output again (the delivery failure table says RETRY)."""
        completion.error = None
        completion.attempts += 1
        self._send(completion)

    def _send(self, completion: Completion) -> None:
        def report(error: str | None) -> None:
            completion.error = error
            self.completions.put(completion)

        self._sink.produce(
            completion.topic, completion.key, completion.value, completion.headers, on_delivery=report
        )


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
                except Exception:  # the cache fails open; it should not raise, but never let it kill this
                    log.exception("cache write failed")
            if stop:
                return
