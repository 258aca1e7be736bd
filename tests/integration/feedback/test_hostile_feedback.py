"""Hostile feedback events on the real broker: each is dead-lettered, the service keeps ingesting.

Before issue #8, one event with `decided_at` at the end of time (OverflowError in the store) or 100 KB
of "[" (RecursionError in the decoder) ended the service without committing, so every restart died
on the same event. Here both sit between valid events; the service must store the valid ones, put the
two on the feedback dead-letter topic with headers that say why, commit past all of them, and still
be running to ingest what comes next.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from events.dead_letter import parse_dead_letter_headers
from events.settings import Settings
from tests.integration.feedback.conftest import (
    TrainerProcess,
    committed_total,
    create_topics,
    feedback,
    produce,
    read_topic,
    stored_ids,
)

END_OF_TIME = feedback("late", ["Racist"], text="x", decided_at="9999-12-31T23:59:59-05:00")
NESTED = ("nested", b'{"post_id": "nested", "labels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_hostile_feedback_is_dead_lettered_and_ingestion_goes_on(
    make_settings: Callable[..., Settings], trainer_processes: list[TrainerProcess], tmp_path: Path
) -> None:
    settings = make_settings(trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9})
    create_topics(settings)
    first = [feedback(f"ok-{i}", [], text=f"fine {i}") for i in range(3)]
    second = [feedback(f"ok-{i}", ["Sexist"], text=f"fine {i}") for i in range(3, 6)]
    produce(settings, [first[0], END_OF_TIME, first[1], NESTED, first[2]])

    proc = TrainerProcess(settings, tmp_path / "trainer.log", poll_batch=50)
    trainer_processes.append(proc)
    proc.wait_until(
        lambda: committed_total(settings) == 5, timeout_s=120, what="offsets committed past all 5"
    )
    assert stored_ids(settings) == {"ok-0", "ok-1", "ok-2"}

    letters = read_topic(settings, settings.topics.feedback_dlq, expect=2)
    by_key = {m.key(): m for m in letters}
    assert set(by_key) == {b"late", b"nested"} and len(letters) == 2
    late = parse_dead_letter_headers(by_key[b"late"].headers())
    nested = parse_dead_letter_headers(by_key[b"nested"].headers())
    # the wire schema refuses both (timestamps outside [2000, 2100), nesting past its depth limit)
    assert (late["stage"], late["error.type"]) == ("decode", "schema")
    assert "decided_at" in late["error.message"]
    assert (nested["stage"], nested["error.type"]) == ("decode", "too_deep")
    for headers in (late, nested):
        assert headers["source.topic"] == settings.topics.feedback
        assert int(headers["source.offset"]) >= 0
    assert by_key[b"late"].value() == END_OF_TIME[1]  # the original bytes, unchanged
    assert by_key[b"nested"].value() == NESTED[1]

    # still running, and still ingesting
    assert proc.process.poll() is None, proc.log()[-3000:]
    produce(settings, second)
    proc.wait_until(lambda: committed_total(settings) == 8, timeout_s=60, what="the next batch committed")
    assert stored_ids(settings) == {f"ok-{i}" for i in range(6)}
    proc.terminate()
    assert proc.wait(timeout_s=30) == 0, proc.log()[-3000:]
    assert "Traceback" not in proc.log()
