"""`modstream train --once --notify` announces the promoted version on the model-updates topic."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from events.schemas import decode_model_update
from model.registry import ModelRegistry
from model.synthetic import make_synthetic
from modstream.cli import main
from tests.services import Broker


def test_promotion_is_announced(
    broker: Broker, kafka_topics: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (topic,) = kafka_topics("updates", partitions=1)
    data = tmp_path / "posts.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "labels"])
        for text, _png, names in make_synthetic(120, seed=5):
            writer.writerow([text, "|".join(n for n in names if n != "NotHate")])
    monkeypatch.setenv("MODSTREAM_KAFKA__BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("MODSTREAM_TOPICS__MODEL_UPDATES", topic)
    monkeypatch.setenv("MODSTREAM_MODEL__REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("MODSTREAM_TRAINER__DATA_DIR", str(tmp_path / "trainer"))
    monkeypatch.setenv("MODSTREAM_DEVICE", "cpu")
    args = ["--once", "--data", str(data), "--preset", "tiny", "--epochs", "2", "--no-progress", "--notify"]
    assert main(["train", *args]) == 0
    version = ModelRegistry(tmp_path / "registry").current()
    assert version is not None

    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        deadline = time.monotonic() + 20
        message = None
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(0.5)
            if polled is not None and polled.error() is None:
                message = polled
        assert message is not None, "no model-updates event arrived"
        event = decode_model_update(message.value())
        assert event.model_version == version
        assert Path(event.path) == ModelRegistry(tmp_path / "registry").path(version)
        assert "macro_f1" in event.metrics
    finally:
        consumer.close()
