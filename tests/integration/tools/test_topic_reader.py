"""TopicReader on the real broker: from the beginning, from the end, from given offsets, until the end."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Producer

from events.kafka import producer_config
from events.settings import KafkaSettings, Settings
from modstream.topic_reader import TopicReader


def _send(kafka: KafkaSettings, topic: str, values: list[bytes], partition: int | None = None) -> None:
    producer = Producer(producer_config(kafka))
    for value in values:
        if partition is None:
            producer.produce(topic, value=value, key=value)
        else:
            producer.produce(topic, value=value, key=value, partition=partition)
    assert producer.flush(30) == 0


def test_until_end_reads_everything_once(
    make_settings: Callable[..., Settings], kafka_topics: Callable[..., list[str]]
) -> None:
    kafka = make_settings().kafka
    (topic,) = kafka_topics("reader", partitions=3)
    values = [f"m{i}".encode() for i in range(50)]
    _send(kafka, topic, values)
    with TopicReader(kafka, topic) as reader:
        assert sorted(m.value() for m in reader.messages(until_end=True)) == sorted(values)


def test_from_the_end_shows_only_what_comes_after(
    make_settings: Callable[..., Settings], kafka_topics: Callable[..., list[str]]
) -> None:
    kafka = make_settings().kafka
    (topic,) = kafka_topics("reader", partitions=3)
    _send(kafka, topic, [f"old{i}".encode() for i in range(30)])
    with TopicReader(kafka, topic, start="end") as reader:
        new = [f"new{i}".encode() for i in range(10)]
        _send(kafka, topic, new)
        seen = [m.value() for m in reader.messages(idle_exit_s=3, max_messages=20)]
    assert sorted(seen) == sorted(new)


def test_since_offsets_per_partition(
    make_settings: Callable[..., Settings], kafka_topics: Callable[..., list[str]]
) -> None:
    kafka = make_settings().kafka
    (topic,) = kafka_topics("reader", partitions=2)
    for partition in (0, 1):
        _send(kafka, topic, [f"p{partition}-{i}".encode() for i in range(5)], partition=partition)
    with TopicReader(kafka, topic, since={0: 3}) as reader:
        seen = sorted(m.value() for m in reader.messages(until_end=True))
    assert seen == sorted([b"p0-3", b"p0-4"] + [f"p1-{i}".encode() for i in range(5)])
    with TopicReader(kafka, topic, since=4) as reader:
        assert sorted(m.value() for m in reader.messages(until_end=True)) == [b"p0-4", b"p1-4"]
