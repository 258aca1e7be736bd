"""Sending a batch's feedback dead letters: bounded retries, then a clear "outage" answer.

    >>> if not send_dead_letters(sink, settings.topics.feedback_dlq, outcome.dead_letters, sleep=time.sleep):
    ...     return 1          # the dead-letter topic is unreachable: stop, commit nothing past them

A dead letter is the only trace of a rejected feedback event, so its offset is committed only after
the broker acknowledged it. When the broker will not take it after `attempts` tries, that is an
outage of the broker, not a problem of the record: the service stops without committing, and the
next start re-reads the batch (the store is idempotent, so re-ingesting it costs nothing).

A retry re-sends every dead letter of the batch: the sink cannot say which one was lost, and a
duplicate dead letter is harmless (at-least-once, like everything else on the wire).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import KafkaException

from events.dead_letter import carried_headers, dead_letter_headers
from feedback.ingest import DeadLetter
from feedback.kafka_io import DeliveryFailed

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 2.0  # doubled after each failed attempt


class Sink(Protocol):
    """The part of feedback.kafka_io.EventSink used here; tests pass a fake."""

    def send(
        self,
        topic: str,
        key: bytes | str | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> None: ...


def send_dead_letters(
    sink: Sink,
    topic: str,
    letters: Sequence[DeadLetter],
    *,
    sleep: Callable[[float], object],
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> bool:
    """True once every letter is acknowledged; False after `attempts` failed tries (logged as an outage)."""
    if not letters:
        return True
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            for letter in letters:
                message = letter.message
                headers = dead_letter_headers(
                    stage=letter.stage,
                    error_type=letter.error_type,
                    message=letter.detail,
                    topic=message.topic() or "",
                    partition=message.partition() or 0,
                    offset=message.offset() or 0,
                ) + carried_headers(_headers(message))  # a replayed event keeps its replay count
                sink.send(topic, message.key(), message.value(), headers)
            sink.flush()
            return True
        except (DeliveryFailed, KafkaException, BufferError) as exc:
            log.warning(
                "dead letters to %s not acknowledged (attempt %d/%d): %s", topic, attempt, attempts, exc
            )
            if attempt < attempts:
                sleep(delay)
                delay *= 2
    first = letters[0].message
    log.error(
        "OUTAGE: the feedback dead-letter topic %s did not acknowledge %d dead letter(s) after %d attempts; "
        "stopping WITHOUT committing past them (first: %s[%s]@%s); the next start re-reads them",
        topic,
        len(letters),
        attempts,
        first.topic(),
        first.partition(),
        first.offset(),
    )
    return False


def _headers(message: object) -> list[tuple[str, bytes | None]] | None:
    read = getattr(message, "headers", None)  # confluent_kafka.Message has it; plain test stubs may not
    return read() if callable(read) else None
