"""kill -9 the consumer mid-stream and restart it: every post still gets its result, and the only
duplicates are posts whose offsets were not committed yet (in flight). Then SIGTERM: drain, commit, exit 0."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from pathlib import Path

from events.settings import Settings
from tests.integration.consumer.conftest import (
    ConsumerProcess,
    TinyModels,
    committed_offsets,
    create_topics,
    post,
    produce,
    publish_version,
    wait_until,
)

N_POSTS = 1500
MAX_IN_FLIGHT = 64
POLL_BATCH = 32
COMMIT_INTERVAL_S = 0.1


def test_kill_9_mid_stream_loses_nothing_and_duplicates_only_in_flight_posts(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    outputs_of: Callable,
    consumer_processes: list[ConsumerProcess],
    tmp_path: Path,
) -> None:
    settings = consumer_settings(
        # a dead member leaves the group within max.poll.interval.ms at worst (the rebalance timeout)
        kafka={"max_poll_interval_ms": 20_000},
        batch={"max_size": 8, "max_wait_ms": 5},
        consumer={
            "max_in_flight": MAX_IN_FLIGHT,
            "poll_batch": POLL_BATCH,
            "commit_interval_s": COMMIT_INTERVAL_S,
            "drain_grace_s": 20,
        },
    )
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    landed = produce(
        settings, [post(f"post-{i}", text=f"post {i} " + "word " * (i % 23)) for i in range(N_POSTS)]
    )
    reader = outputs_of(settings)

    first = ConsumerProcess(settings, tmp_path / "first.log")
    consumer_processes.append(first)
    wait_until(lambda: len(reader.poll().results) >= 1, 90, "the first result")
    started = time.monotonic()
    wait_until(lambda: len(reader.poll().results) >= N_POSTS // 4, 60, "a quarter of the results")
    first.signal(signal.SIGKILL)
    assert first.wait(30) == -signal.SIGKILL
    rate = len(reader.poll().results) / max(time.monotonic() - started, 1e-3)  # results per second
    before_kill = {r.post_id for r in reader.drain().results}
    assert len(before_kill) < N_POSTS, "the consumer finished before the kill: nothing was tested"
    committed = committed_offsets(settings)

    second = ConsumerProcess(settings, tmp_path / "second.log")
    consumer_processes.append(second)
    try:
        wait_until(
            lambda: len({r.post_id for r in reader.poll().results}) >= N_POSTS, 120, "a result for every post"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- second run's log ---\n{second.log()[-6000:]}") from None
    second.signal(signal.SIGTERM)
    assert second.wait(settings.consumer.drain_grace_s + 10) == 0, second.log()[-3000:]
    assert "consumer stopped (exit 0" in second.log()

    outputs = reader.wait_for(N_POSTS, settle_s=1.0)
    results = outputs.by_post()
    assert set(results) == {f"post-{i}" for i in range(N_POSTS)}  # nothing lost
    assert outputs.dead == []
    duplicates = {pid for pid, rs in results.items() if len(rs) > 1}
    # a duplicate is a post the first run scored but had not committed: at or past the committed offset
    uncommitted = {
        pid for pid, (partition, offset) in landed.items() if offset >= committed.get(partition, 0)
    }
    assert duplicates <= uncommitted
    assert duplicates <= before_kill
    # ... and there are at most as many as may be in flight, plus what finishes within one commit interval
    bound = MAX_IN_FLIGHT + POLL_BATCH + math.ceil(2 * rate * COMMIT_INTERVAL_S)
    print(
        f"kill -9 after {len(before_kill)} of {N_POSTS} results; uncommitted at the kill: "
        f"{len(uncommitted)}; duplicates: {len(duplicates)} (bound {bound})"
    )
    assert len(duplicates) <= bound, (len(duplicates), bound)
    # SIGTERM drained and committed everything: a third run would have nothing to do
    ends = {partition: 0 for partition in committed}
    for partition, offset in landed.values():
        ends[partition] = max(ends[partition], offset + 1)
    assert committed_offsets(settings) == ends
