"""Bounded runs: --max-messages N takes exactly N posts, finishes them, commits exactly them and exits 0;
--idle-exit then picks up precisely the rest and exits once idle."""

from __future__ import annotations

import threading
from collections.abc import Callable

from consumer.service import ConsumerService
from events.settings import Settings
from tests.integration.consumer.conftest import (
    TinyModels,
    committed_offsets,
    create_topics,
    post,
    produce,
    publish_version,
)

N_POSTS = 100
FIRST = 40


def _run(settings: Settings, **options: object) -> ConsumerService:
    service = ConsumerService(settings, **options)  # type: ignore[arg-type]
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    thread.join(timeout=90)
    assert not thread.is_alive(), "the bounded run did not end by itself"
    return service


def test_max_messages_then_idle_exit(
    consumer_settings: Callable[..., Settings], tiny_models: TinyModels, outputs_of: Callable
) -> None:
    settings = consumer_settings(consumer={"poll_batch": 16})
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    produce(settings, [post(f"p-{i}", text=f"bounded run post {i}") for i in range(N_POSTS)])
    reader = outputs_of(settings)

    first = _run(settings, max_messages=FIRST)
    assert first.exit_code == 0
    assert sum(committed_offsets(settings).values()) == FIRST  # exactly what it took, all finished
    assert len(reader.drain().results) == FIRST

    second = _run(settings, idle_exit_s=3.0)
    assert second.exit_code == 0
    results = reader.drain().by_post()
    assert set(results) == {f"p-{i}" for i in range(N_POSTS)}
    assert all(len(r) == 1 for r in results.values())  # the first run's commit was exact: no duplicate
    assert sum(committed_offsets(settings).values()) == N_POSTS
