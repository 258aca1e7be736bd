"""Until a model version exists the consumer is alive but not ready, and takes no post; the first version
published makes it ready and every waiting post is scored by it."""

from __future__ import annotations

import argparse
import time
import urllib.request
from collections.abc import Callable

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
    consumer_settings: Callable[..., Settings], tiny_models: TinyModels, outputs_of: Callable
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    produce(settings, [post(f"p-{i}", text=f"waiting post {i}") for i in range(20)])
    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        wait_until(lambda: service.health_port is not None, 30, "the health endpoints")
        base = f"http://127.0.0.1:{service.health_port}"
        time.sleep(3.0)  # long enough to join a group and score, were it allowed to
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
