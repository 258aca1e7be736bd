"""The posts topic as a source: a thin adapter over confluent_kafka's Consumer.

The decisions (what to commit, when to pause) are the caller's; this module only translates. Offsets are
never committed or stored on their own (events.kafka.consumer_config turns both off); `commit` commits
exactly the offsets it is given. With the cooperative-sticky assignor the client applies the incremental
assign/unassign itself after each callback returns, so the callbacks only see what changed.

    >>> source = KafkaSource(consumer_config(settings.kafka, group_id="g"), "posts",
    ...                      on_assign=..., on_revoke=..., on_lost=...)
    >>> source.subscribe()
    >>> records = source.consume(256, timeout_s=0.1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from consumer.errors import FatalError
from consumer.ledger import TopicPartition
from events.dead_letter import carried_headers

log = logging.getLogger(__name__)

PartitionsCallback = Callable[[list[TopicPartition]], None]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_s: float | None  # create time, epoch seconds
    replay: tuple[tuple[str, bytes], ...] = ()  # replay-history headers, copied onto a dead letter


class KafkaSource:
    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        *,
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        self._consumer = Consumer(config | {"error_cb": self._on_error})
        self._topic = topic
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._on_lost = on_lost
        self._fatal: str | None = None

    def subscribe(self) -> None:
        self._consumer.subscribe(
            [self._topic],
            on_assign=lambda _c, parts: self._on_assign(_tps(parts)),
            on_revoke=lambda _c, parts: self._on_revoke(_tps(parts)),
            on_lost=lambda _c, parts: self._on_lost(_tps(parts)),
        )

    def consume(self, n: int, timeout_s: float) -> list[Record]:
        if self._fatal:
            raise FatalError("kafka", self._fatal)
        records: list[Record] = []
        for msg in self._consumer.consume(num_messages=max(1, n), timeout=timeout_s):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise FatalError("kafka", str(err))
                log.warning("consumer error: %s", err)
                continue
            _kind, ts_ms = msg.timestamp()
            records.append(
                Record(
                    topic=msg.topic() or self._topic,
                    partition=msg.partition() or 0,
                    offset=msg.offset() or 0,
                    key=msg.key(),
                    value=msg.value(),
                    timestamp_s=ts_ms / 1000.0 if ts_ms and ts_ms > 0 else None,
                    replay=tuple(carried_headers(msg.headers())),
                )
            )
        return records

    def assignment(self) -> list[TopicPartition]:
        return _tps(self._consumer.assignment())

    def pause(self, tps: list[TopicPartition]) -> None:
        if tps:
            self._consumer.pause([KafkaTopicPartition(t, p) for t, p in tps])

    def resume(self, tps: list[TopicPartition]) -> None:
        if tps:
            self._consumer.resume([KafkaTopicPartition(t, p) for t, p in tps])

    def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit these offsets synchronously. False (logged) when the broker did not take them."""
        if not offsets:
            return True
        try:
            self._consumer.commit(
                offsets=[KafkaTopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
            )
        except KafkaException as exc:
            log.warning("commit of %s failed: %s", offsets, exc)
            return False
        return True

    def lag(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Messages behind the high watermark, from the client's cached fetch state (no broker call)."""
        out: dict[TopicPartition, int] = {}
        if not tps:
            return out
        try:
            positions = self._consumer.position([KafkaTopicPartition(t, p) for t, p in tps])
        except KafkaException:
            return out
        for tp in positions:
            try:
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high >= 0 and tp.offset >= 0:
                out[(tp.topic, tp.partition)] = max(0, high - tp.offset)
        return out

    def close(self) -> None:
        self._consumer.close()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = str(err)
        log.warning("kafka: %s", err)


def _tps(parts: list[KafkaTopicPartition]) -> list[TopicPartition]:
    return [(p.topic, p.partition) for p in parts]
