"""A moderator's decision: checked, turned into a Feedback event, and published with the broker's ack.

    >>> labels = decided_labels(card, ["Racist", "Sexist"])     # ValueError for a label the model lacks
    >>> feedback = to_feedback(card, labels, moderator_id="alice", now=utc_now())
    >>> publisher = FeedbackPublisher(settings.kafka, settings.topics.feedback, ack_timeout_s=10)
    >>> await publisher.publish(feedback)       # returns once acknowledged; PublishError otherwise
    >>> publisher.close()

The card only shows as decided after `publish` returns: a decision the broker did not take is an
error on the page, never a silent loss. Benign is the empty label set (the wire contract's choice).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from events.kafka import producer_config
from events.schemas import Feedback, encode
from events.settings import KafkaSettings
from review.cards import Card

MAX_DECISION_LABELS = 64


class PublishError(Exception):
    """The broker did not acknowledge a decision in time, or refused it."""


def decided_labels(card: Card, requested: Sequence[object]) -> list[str]:
    """The requested labels, each one the model knows, in the model's order; ValueError otherwise."""
    known = list(card.result.scores)
    if len(requested) > MAX_DECISION_LABELS:
        raise ValueError("too many labels")
    wanted = set()
    for label in requested:
        if not isinstance(label, str) or label not in known:
            raise ValueError(f"unknown label {str(label)[:64]!r}")
        wanted.add(label)
    return [label for label in known if label in wanted]


def to_feedback(card: Card, labels: list[str], *, moderator_id: str, now: datetime) -> Feedback:
    return Feedback(
        post_id=card.post.post_id,
        labels=labels,
        text=card.post.text,
        image_url=card.post.image_url,
        moderator_id=moderator_id,
        decided_at=now,
    )


class FeedbackPublisher:
    """An idempotent producer polled by its own thread; `publish` awaits one message's delivery report."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, ack_timeout_s: float) -> None:
        conf: dict[str, Any] = producer_config(kafka) | {
            "message.timeout.ms": int(ack_timeout_s * 1000),
            "linger.ms": 0,  # a decision is one message: send it now
        }
        self._producer = Producer(conf)
        self._topic = topic
        self._ack_timeout_s = ack_timeout_s
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="review-feedback-poll", daemon=True)
        self._poller.start()

    async def publish(self, feedback: Feedback) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(err: KafkaError | None, _msg: Message) -> None:  # on the poll thread
            # RuntimeError: the server's loop is gone (shutting down), so nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, done, err)

        try:
            self._producer.produce(
                self._topic, key=feedback.post_id.encode(), value=encode(feedback), on_delivery=settle
            )
        except (BufferError, KafkaException) as exc:
            raise PublishError(f"not queued: {exc}") from exc
        try:
            # A little longer than librdkafka's own message timeout, which reports a failure itself.
            await asyncio.wait_for(asyncio.shield(done), self._ack_timeout_s + 2.0)
        except TimeoutError as exc:
            raise PublishError("no acknowledgement from the broker in time") from exc

    def close(self, timeout_s: float = 5.0) -> None:
        self._closed.set()
        self._poller.join(timeout=timeout_s)
        self._producer.flush(timeout_s)

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)


def _settle(done: asyncio.Future[None], err: KafkaError | None) -> None:
    if done.done():
        return
    if err is None:
        done.set_result(None)
    else:
        done.set_exception(PublishError(f"refused by the broker: {err.str()}"))
