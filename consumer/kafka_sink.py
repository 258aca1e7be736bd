"""Results and dead letters out: a thin adapter over confluent_kafka's Producer.

`produce` may be called from any thread. The delivery callback runs inside `poll`/`flush`, on whichever
thread calls them, and gets None (acknowledged) or the error's text; callers keep it short and
thread-safe (the service only queues it for the poll loop).

`produce` never raises: a message the producer refuses outright (too large, unknown topic, a fatal
producer state: KafkaException, or anything else) is reported through `on_delivery` at once with the
error's text, exactly like a failed delivery, so it is that one output's failure and never ends a stage.
A full local queue (BufferError) is waited on, for at most `queue_full_wait_s`, then reported the same way.

    >>> sink = KafkaSink(producer_config(settings.kafka))
    >>> sink.produce("results", b"key", b"value", None, on_delivery=lambda err: ...)
    >>> sink.poll(0)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from events.kafka import PRODUCER_MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]]


def refusal_text(exc: BaseException) -> str:
    """A producer's refusal as the text a delivery report would carry (`NAME: description`)."""
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return f"{type(exc).__name__}: {exc}"[:500]


class KafkaSink:
    def __init__(self, config: dict[str, Any], *, queue_full_wait_s: float = 30.0) -> None:
        self._producer = Producer(config)
        self._queue_full_wait_s = queue_full_wait_s
        # what the producer accepts per message: the outlet sends a reference letter beyond it
        self.max_message_bytes = int(config.get("message.max.bytes", PRODUCER_MAX_MESSAGE_BYTES))

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        *,
        on_delivery: Callable[[str | None], None],
    ) -> None:
        def report(err: KafkaError | None, _msg: Message) -> None:
            on_delivery(None if err is None else f"{err.name()}: {err.str()}")

        deadline = time.monotonic() + self._queue_full_wait_s
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
                return
            except BufferError as exc:  # the local queue is full: let deliveries drain, then try again
                if time.monotonic() >= deadline:
                    on_delivery(f"_QUEUE_FULL: {exc}")
                    return
                self._producer.poll(0.05)
            except Exception as exc:  # refused outright: this one output failed, nothing else
                log.warning("producer refused a message for %s: %s", topic, refusal_text(exc))
                on_delivery(refusal_text(exc))
                return

    def poll(self, timeout_s: float) -> int:
        return int(self._producer.poll(timeout_s))

    def flush(self, timeout_s: float) -> int:
        """Wait for every queued message; returns how many are still unacknowledged."""
        return int(self._producer.flush(timeout_s))

    def close(self) -> None:
        """Release the client (after `flush`): its threads and connections end now, not at collection.
        With messages still queued (the broker is gone) close would wait on them: leave it to collection."""
        if len(self._producer) == 0:
            self._producer.close()
