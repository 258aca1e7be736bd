"""Read a topic from the tools (tail, dlq, demo) without joining a consumer group.

The tools assign every partition themselves and never commit: they are observers, so they must not
take partitions away from the real consumers, and they start at once (a group join takes seconds).

    >>> with TopicReader(settings.kafka, "moderation-results", start="beginning") as reader:
    ...     for msg in reader.messages(idle_exit_s=2.0):
    ...         print(msg.value())

`until_end=True` stops once every partition has reported its end (EOF from a fetch). Watermarks are
not queried: the embedded broker answers ListOffsets with a too-low end offset once messages were
produced in batches, while its fetch responses are right. For the same reason `start="end"` also
skips, in each partition, the messages stamped before the reader started, until the first one
stamped after (on Kafka the end offset is right and this skips nothing).

The broker must answer within `kafka.connect_timeout_s` (events.kafka.probe_broker: BrokerUnreachable
otherwise), and every wait is short (polls of 0.2 s), so a stop request or SIGINT is seen within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Literal

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, Message, TopicPartition

from events.kafka import common_config, probe_broker
from events.settings import KafkaSettings

Start = Literal["beginning", "end"]


class TopicReader:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        *,
        start: Start = "beginning",
        since: dict[int, int] | int | None = None,  # an offset for all partitions, or per partition
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        conf = common_config(kafka) | {
            "group.id": "modstream-tools-observer",  # required by librdkafka; never joined, never committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # An explicit offset past the end reads from the end.
            "auto.offset.reset": "latest",
        }
        self.topic = topic
        # start="end": skip what was stamped before now, partition by partition (see the module doc).
        self._not_before_ms = int(wall_clock() * 1000) if start == "end" and since is None else None
        self._caught_up: set[int] = set()
        probe_broker(kafka)
        self._consumer = Consumer(conf)
        self._clock = clock
        metadata = self._consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            self._consumer.close()
            raise LookupError(f"topic {topic!r} does not exist")
        self.partitions = sorted(described.partitions)
        if isinstance(since, int):
            since = dict.fromkeys(self.partitions, since)
        logical = OFFSET_BEGINNING if start == "beginning" else OFFSET_END
        starts = dict.fromkeys(self.partitions, logical) | {
            p: max(0, offset) for p, offset in (since or {}).items() if p in described.partitions
        }
        self._consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])

    def messages(
        self,
        *,
        until_end: bool = False,
        idle_exit_s: float | None = None,
        max_messages: int | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[Message]:
        """Yield messages in arrival order until a stop condition; errors other than EOF raise."""
        done: set[int] = set()  # partitions whose end (EOF) was reached
        count = 0
        last = self._clock()
        while not stop():
            if until_end and done >= set(self.partitions):
                return
            if max_messages is not None and count >= max_messages:
                return
            if idle_exit_s is not None and self._clock() - last >= idle_exit_s:
                return
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if until_end:
                        done.add(msg.partition() or 0)
                    continue
                raise RuntimeError(f"reading {self.topic}: {err}")
            last = self._clock()
            if self._is_old(msg):
                continue
            count += 1
            yield msg

    def _is_old(self, msg: Message) -> bool:
        partition = msg.partition() or 0
        if self._not_before_ms is None or partition in self._caught_up:
            return False
        if msg.timestamp()[1] < self._not_before_ms:
            return True
        self._caught_up.add(partition)
        return False

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
