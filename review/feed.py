"""The console's Kafka reader: one thread reads the posts and results topics into the CardStore.

    >>> feed = Feed(settings, store)       # assigns every partition of both topics, from the beginning
    >>> feed.start(); ...; feed.stop()

It is an observer, like the operator tools: it assigns the partitions itself (no group join, so it
never takes partitions from the consumer service and starts at once) and never commits. Every
message is hostile: one that does not decode is counted and skipped, and nothing a message holds can
stop the thread. Memory is the store's bound; what the thread reads past it pushes out the oldest.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from events.kafka import common_config, ensure_topics
from events.schemas import MAX_MESSAGE_BYTES, InvalidEvent, Result, decode_post
from events.settings import Settings
from review.cards import CardStore, plausible_result

log = logging.getLogger(__name__)

_BATCH = 500
_POLL_S = 0.2
_RETRY_S = 5.0


def decode_result(raw: bytes | None) -> Result:
    """A Result from the wire, with the same outer limits as every other event."""
    if raw is None:
        raise InvalidEvent("empty", "message has no value")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidEvent("oversized", f"{len(raw)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        return Result.model_validate_json(raw)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError; so is bad JSON or UTF-8
        raise InvalidEvent("schema", str(exc).replace("\n", " ")[:300]) from exc


class Feed:
    def __init__(self, settings: Settings, store: CardStore) -> None:
        self._settings = settings
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="review-feed", daemon=True)
        self.skipped: Counter[str] = Counter()  # reason -> messages skipped
        self.read = 0  # messages read (a start-over after a failure reads them again)
        self.restarts = 0  # start-overs after a failure
        self._counts = threading.Lock()  # the reader thread counts, a request thread reads
        self.ready = threading.Event()  # set once the partitions are assigned

    def start(self) -> None:
        topics = self._settings.topics
        if self._settings.kafka.create_topics:
            ensure_topics(self._settings.kafka, [topics.posts, topics.results, topics.feedback])
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def stats(self) -> dict[str, object]:
        """What the feed has done so far: ready (partitions assigned), messages read, skipped by reason."""
        with self._counts:
            return {
                "ready": self.ready.is_set(),
                "read": self.read,
                "skipped": dict(self.skipped),
                "restarts": self.restarts,
            }

    def _skip(self, reason: str) -> None:
        with self._counts:
            self.skipped[reason] += 1

    def _run(self) -> None:
        """Reads until stopped; after a failure (a topic gone, a client error) it starts over."""
        while not self._stop.is_set():
            try:
                self._read()
            except Exception:  # the page keeps what it has; the feed tries again
                log.exception("review feed failed; starting over in %.0fs", _RETRY_S)
                with self._counts:
                    self.restarts += 1
                self._stop.wait(_RETRY_S)

    def _read(self) -> None:
        conf = common_config(self._settings.kafka) | {
            "group.id": self._settings.review.group_id,  # required by librdkafka; never joined
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        consumer = Consumer(conf)
        try:
            consumer.assign(self._partitions(consumer))
            self.ready.set()
            while not self._stop.is_set():
                for message in consumer.consume(num_messages=_BATCH, timeout=_POLL_S):
                    self._take(message)
        finally:
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[TopicPartition]:
        wanted = [self._settings.topics.posts, self._settings.topics.results]
        assigned = []
        for topic in wanted:
            described = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise LookupError(f"topic {topic!r} does not exist")
            assigned += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(described.partitions)]
        return assigned

    def _take(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self._skip("kafka_error")
                log.warning("review feed: %s", error)
            return
        self.read += 1
        try:
            if message.topic() == self._settings.topics.results:
                result = decode_result(message.value())
                if not plausible_result(result):  # valid JSON, but no modstream model wrote it
                    self._skip("implausible")
                    return
                self._store.add_result(result)
            else:
                self._store.add_post(decode_post(message.value()))
        except InvalidEvent as exc:
            self._skip(exc.reason)
        except (ValueError, json.JSONDecodeError) as exc:  # defensive: a schema edge not mapped above
            self._skip("invalid")
            log.debug("review feed skipped a message: %r", exc)
