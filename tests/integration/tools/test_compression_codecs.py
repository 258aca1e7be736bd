"""Every MODSTREAM_KAFKA__COMPRESSION codec round-trips through the embedded broker (tansu).

modstream's own producer settings (events.kafka.producer_config) with each codec; read back with a
confluent-kafka consumer, as `modstream tail` and the review console read. What other clients can read
is in the README (interop); this pins what the broker itself takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from events.kafka import common_config, producer_config
from events.settings import KafkaSettings, Settings

CODECS = get_args(KafkaSettings.model_fields["compression"].annotation)


@pytest.mark.parametrize("codec", CODECS)
def test_codec_round_trips_through_the_broker(
    codec: str, make_settings: Callable[..., Settings], kafka_topics: Callable[..., list[str]]
) -> None:
    settings = make_settings()
    kafka = settings.kafka.model_copy(update={"compression": codec})
    (topic,) = kafka_topics("codec", partitions=1)
    values = [(f'{{"post_id": "{i}", "text": "' + "compressible " * 50 + '"}').encode() for i in range(20)]
    producer = Producer(producer_config(kafka))
    errors: list[object] = []
    for i, value in enumerate(values):
        producer.produce(
            topic, key=str(i).encode(), value=value, on_delivery=lambda e, m: e and errors.append(e)
        )
    assert producer.flush(30) == 0 and not errors, errors

    reader = Consumer(common_config(kafka) | {"group.id": f"codec-{codec}", "enable.auto.commit": False})
    try:
        reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got: list[bytes] = []
        for _ in range(100):  # at most 100 x 0.5 s
            for msg in reader.consume(100, timeout=0.5):
                assert msg.error() is None, msg.error()
                got.append(msg.value() or b"")
            if len(got) >= len(values):
                break
    finally:
        reader.close()
    assert got == values
