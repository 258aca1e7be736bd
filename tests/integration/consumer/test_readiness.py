"""Until a model version exists the consumer is alive but not ready, and takes no post; the first version
published makes it ready and every waiting post is scored by it."""

from __future__ import annotations

import argparse
import logging
import urllib.request
from collections.abc import Callable

import pytest

from consumer import check
from events.settings import Settings
from tests.integration.consumer.conftest import (
    TinyModels,
    create_topics,
    metric,
    post,
    produce,
    publish_version,
    running_consumer,
    wait_until,
)


def test_not_ready_and_not_consuming_until_a_model_exists(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    outputs_of: Callable,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    produce(settings, [post(f"p-{i}", text=f"waiting post {i}") for i in range(20)])
    reader = outputs_of(settings)
    caplog.set_level(logging.INFO, logger="consumer.service")
    with running_consumer(settings) as service:
        wait_until(lambda: service.health_port is not None, 30, "the health endpoints")
        base = f"http://127.0.0.1:{service.health_port}"
        # Gate on what the service says it is doing, not on a sleep: it found no model and waits for one,
        # which it does before it subscribes (so no group join, no partition, no post can follow).
        wait_until(
            lambda: any("no model version serving yet" in r.getMessage() for r in caplog.records),
            30,
            "the consumer to report that it waits for a model",
        )
        assert service.parts.source.assignment() == []  # never subscribed
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            assert response.status == 200  # alive
        assert check.run(argparse.Namespace(url=f"{base}/readyz", timeout=2.0)) == 1  # not ready
        assert metric(service, "modstream_consumed_total") == 0
        assert reader.poll(0.5).results == []

        version = publish_version(settings, tiny_models, "a")
        outputs = reader.wait_for(20, timeout_s=60)
        assert check.run(argparse.Namespace(url=f"{base}/readyz", timeout=2.0)) == 0
    assert {r.model_version for r in outputs.results} == {version}
    assert len(outputs.results) == 20
