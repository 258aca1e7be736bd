"""Results and dead letters out: a thin adapter over confluent_kafka's Producer.

`produce` may be called from any thread. The delivery callback runs inside `poll`/`flush`, on whichever
thread calls them, and gets None (acknowledged) or the error's text; callers keep it short and
thread-safe (the service only queues it for the poll loop).

    >>> sink = KafkaSink(producer_config(settings.kafka))
    >>> sink.produce("results", b"key", b"value", None, on_delivery=lambda err: ...)
    >>> sink.poll(0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]]


class KafkaSink:
    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)

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

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
                return
            except BufferError:  # the local queue is full: let deliveries drain, then try again
                self._producer.poll(0.05)

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
