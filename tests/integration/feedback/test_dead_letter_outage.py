"""The feedback dead-letter topic refuses what the trainer sends: an outage, not a crash.

Real broker; the dead-letter topic name is one Kafka refuses, so every dead letter fails for real. The
service must retry a bounded number of times, say OUTAGE in its log, exit 1 without a traceback, and
commit nothing past the event it could not dead-letter (a restart re-reads it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from events.kafka import ensure_topics
from events.settings import Settings
from tests.integration.feedback.conftest import TrainerProcess, committed_total, produce


def test_unacknowledged_dead_letters_stop_the_service_without_committing(
    make_settings: Callable[..., Settings], trainer_processes: list[TrainerProcess], tmp_path: Path
) -> None:
    base = make_settings(trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9})
    settings = base.model_copy(
        update={
            "topics": base.topics.model_copy(update={"feedback_dlq": "not a valid topic name!"}),
            "kafka": base.kafka.model_copy(update={"create_topics": False}),
        }
    )
    ensure_topics(settings.kafka, [settings.topics.feedback], partitions=1)
    produce(settings, [("bad", b"not json")])

    proc = TrainerProcess(settings, tmp_path / "trainer.log", poll_batch=10)
    trainer_processes.append(proc)
    assert proc.wait(timeout_s=120) == 1
    log = proc.log()
    assert "OUTAGE" in log and "WITHOUT committing" in log, log[-3000:]
    assert log.count("not acknowledged (attempt") == 3, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert committed_total(settings) == 0
