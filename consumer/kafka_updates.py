"""Listens to the model-updates topic and wakes the model manager: a thin confluent_kafka adapter.

Every consumer process must see every update, so this is not a group member: it assigns itself all
partitions of the topic at their end (only updates from now on matter; the registry's CURRENT pointer
is read at start anyway, and polled in case an event is missed).

    >>> listener = UpdatesListener(common_config(settings.kafka), settings.topics.model_updates,
    ...                            on_update=manager.wake)
    >>> listener.start(); ...; listener.close()
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from events.schemas import InvalidEvent, ModelUpdate, decode_model_update

log = logging.getLogger(__name__)


class UpdatesListener:
    def __init__(
        self, config: dict[str, Any], topic: str, *, on_update: Callable[[ModelUpdate], None]
    ) -> None:
        self._config = config | {
            "group.id": f"modstream-updates-{uuid.uuid4().hex[:12]}",  # never joins: assign() only
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
        }
        self._topic = topic
        self._on_update = on_update
        self._closed = threading.Event()
        self._assigned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-updates", daemon=True)

    @property
    def assigned(self) -> threading.Event:
        """Set once the listener reads the topic (tests wait for it before publishing an update)."""
        return self._assigned

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        consumer = Consumer(self._config)
        try:
            while not self._closed.is_set() and not self._assign(consumer):
                self._closed.wait(1.0)
            while not self._closed.is_set():
                msg = consumer.poll(0.5)
                if msg is None or msg.error() is not None:
                    continue
                try:
                    update = decode_model_update(msg.value())
                except InvalidEvent as exc:
                    log.warning("ignoring an invalid model-updates event: %s", exc)
                    continue
                log.info("model update event: %s", update.model_version)
                self._on_update(update)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> bool:
        try:
            topic = consumer.list_topics(self._topic, timeout=5).topics.get(self._topic)
        except KafkaException as exc:
            log.warning("model-updates topic not readable yet: %s", exc)
            return False
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        consumer.assign([TopicPartition(self._topic, p, OFFSET_END) for p in topic.partitions])
        self._assigned.set()
        return True
