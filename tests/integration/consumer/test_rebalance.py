"""Cooperative rebalancing between two consumers of one group, mid-stream: a member joins (partitions move
to it after their in-flight posts are drained and committed) and the first one leaves. Every post gets
exactly one result: nothing is lost, and drained revocations leave nothing to score twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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

N_POSTS = 900


def test_a_member_joins_and_another_leaves_mid_stream(
    consumer_settings: Callable[..., Settings], tiny_models: TinyModels, outputs_of: Callable
) -> None:
    settings = consumer_settings(
        kafka={"topic_partitions": 4}, consumer={"max_in_flight": 64, "poll_batch": 32}
    )
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    reader = outputs_of(settings)

    # The stream goes on until the second member has scored (and N_POSTS at least): a first member that
    # keeps up must not leave the second nothing to take.
    second_scored = threading.Event()
    produced = [0]

    def stream() -> None:
        while produced[0] < N_POSTS or not second_scored.is_set():
            start = produced[0]
            produce(settings, [post(f"p-{i}", text=f"rebalance post {i}") for i in range(start, start + 15)])
            produced[0] += 15
            time.sleep(0.05)

    producer = threading.Thread(target=stream)
    second = running_consumer(settings)
    with running_consumer(settings) as first:
        producer.start()
        wait_until(lambda: len(reader.poll().results) >= 100, 60, "the first member to score")
        joined = second.__enter__()
        try:
            wait_until(
                lambda: metric(joined, "modstream_consumed_total") > 0, 60, "the second member to score"
            )
        finally:
            second_scored.set()
    taken_by_first = metric(first, "modstream_consumed_total")  # it has left: its count is final
    try:
        producer.join()
        total = produced[0]
        print(f"REPORT rebalance: {total} posts")
        outputs = reader.wait_for(total, timeout_s=90, settle_s=2.0)
        taken_by_second = metric(joined, "modstream_consumed_total")
    finally:
        second.__exit__(None, None, None)

    results = outputs.by_post()
    assert set(results) == {f"p-{i}" for i in range(total)}
    duplicates = sorted(pid for pid, rs in results.items() if len(rs) > 1)
    assert duplicates == []
    assert taken_by_first > 0 and taken_by_second > 0
    assert taken_by_first + taken_by_second == total
