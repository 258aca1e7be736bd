"""The producer's compression codec is the setting MODSTREAM_KAFKA__COMPRESSION, nothing hard-coded."""

from __future__ import annotations

from typing import get_args

import pytest
from confluent_kafka import Producer
from pydantic import ValidationError

from events.kafka import producer_config
from events.settings import KafkaSettings


def test_the_default_is_lz4() -> None:
    assert producer_config(KafkaSettings())["compression.type"] == "lz4"


@pytest.mark.parametrize("codec", get_args(KafkaSettings.model_fields["compression"].annotation))
def test_every_codec_reaches_the_producer(codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_KAFKA__COMPRESSION", codec)
    from events.settings import Settings

    config = producer_config(Settings().kafka)
    assert config["compression.type"] == codec
    # librdkafka refuses a codec it was built without when the producer is created (no broker needed).
    Producer({**config, "bootstrap.servers": "127.0.0.1:1"})


def test_the_codecs_are_librdkafkas() -> None:
    assert set(get_args(KafkaSettings.model_fields["compression"].annotation)) == {
        "none",
        "gzip",
        "snappy",
        "lz4",
        "zstd",
    }


def test_an_unknown_codec_is_refused_at_start() -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(compression="brotli")  # type: ignore[arg-type]
