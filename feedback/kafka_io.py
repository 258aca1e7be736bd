"""The trainer service's Kafka clients: the feedback consumer and one producer for its outputs.

(The trainer's other confluent_kafka uses are small: trainer/cli.py's one-shot producer of the
model-updates event after `modstream train --once`, and dead_letters.py catching KafkaException.)

    >>> source = FeedbackSource(settings)     # subscribed to topics.feedback and .results, auto-commit off
    >>> batch = source.poll(max_messages=100, timeout_s=0.5)
    >>> sink = EventSink(settings)
    >>> sink.send(settings.topics.feedback_dlq, key, value, headers); sink.flush()   # raises if lost
    >>> source.commit(commit_positions(batch))           # synchronous

Fatal consumer errors raise KafkaException; per-partition errors (e.g. a transient broker error) are
logged and skipped, since librdkafka recovers from them on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from events.errors import DeliveryFailed
from events.kafka import consumer_config, producer_config
from events.settings import Settings

log = logging.getLogger(__name__)


class FeedbackSource:
    def __init__(self, settings: Settings) -> None:
        conf = consumer_config(settings.kafka, group_id=settings.kafka.trainer_group_id)
        self._consumer = Consumer(conf)
        self.assigned = False  # partitions were assigned at least once (the group join is done)
        # the results too: what was scored, to check feedback against and to judge the models by
        topics = [settings.topics.feedback, settings.topics.results]
        self._consumer.subscribe(topics, on_assign=self._on_assign)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.assigned = True
        log.info("feedback partitions assigned: %s", [p.partition for p in partitions])

    def poll(self, *, max_messages: int, timeout_s: float) -> list[Message]:
        messages = self._consumer.consume(num_messages=max_messages, timeout=timeout_s)
        good: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("feedback consumer error: %s", error)
        return good

    def commit(self, positions: dict[tuple[str, int], int]) -> None:
        if not positions:
            return
        offsets = [
            TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()
        ]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.fatal():
                raise
            # e.g. the partitions were revoked meanwhile: the examples are stored, and the store is
            # idempotent, so their redelivery to whoever owns the partitions now costs nothing
            log.warning("feedback offset commit failed (will be re-read): %s", error)

    def close(self) -> None:
        self._consumer.close()


class EventSink:
    """A producer whose `flush` raises when any message sent since the last flush was not acknowledged."""

    def __init__(self, settings: Settings) -> None:
        self._producer = Producer(producer_config(settings.kafka))
        self._lock = threading.Lock()
        self._failures: list[str] = []

    def send(
        self,
        topic: str,
        key: bytes | str | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        self._producer.produce(
            topic, value=value, key=key, headers=list(headers or []), on_delivery=self._on_delivery
        )
        self._producer.poll(0)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            with self._lock:
                self._failures.append(f"{message.topic()}: {error}")

    def flush(self, timeout_s: float = 30.0) -> None:
        left = self._producer.flush(timeout_s)
        with self._lock:
            failures, self._failures = self._failures, []
        if left:
            raise DeliveryFailed(f"{left} message(s) still unacknowledged after {timeout_s}s")
        if failures:
            raise DeliveryFailed("; ".join(failures[:5]))

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
