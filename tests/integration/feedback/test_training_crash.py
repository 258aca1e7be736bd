"""The trainer killed (SIGKILL) in the middle of a training: after a restart the training resumes from its
saved epoch (not from scratch) and the candidate is promoted and announced.

The first process trains slowly on purpose (an on_epoch_end hook sleeps), so the test can see the
saved state (work_dir/state/<run_id>/progress.json) reach an epoch before it kills the process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from events.schemas import decode_model_update
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

N_POSTS = 80
LABELS = ["Racist", "Sexist", "Homophobe", "Religion", "OtherHate", None]


def saved_epoch(settings: Settings) -> int:
    """The last epoch a training saved, from its resumable state in the run's work_dir."""
    training = Path(settings.trainer.data_dir) / "training"
    epochs = [
        json.loads(p.read_text())["epoch"]
        for p in training.glob("run-*/work/state/*/progress.json")
        if p.is_file()
    ]
    return max(epochs, default=0)


def test_sigkill_during_training_resumes_and_promotes(
    make_settings: Callable[..., Settings], trainer_processes: list[TrainerProcess], tmp_path: Path
) -> None:
    settings = make_settings(
        trainer={"preset": "tiny", "retrain_min_examples": N_POSTS, "retrain_interval_s": 1e9}
    )
    create_topics(settings)
    events = []
    for i in range(N_POSTS):
        label = LABELS[i % len(LABELS)]
        events.append(
            feedback(f"p{i:03d}", [label] if label else [], text=f"post {i} says {label or 'hello'}")
        )
    produce(settings, events)

    # Held after its second saved epoch (run_trainer.py), so the kill lands mid-training on any machine.
    first = TrainerProcess(settings, tmp_path / "first.log", hold_after_epoch=2)
    trainer_processes.append(first)
    first.wait_until(first.held_marker.is_file, timeout_s=120, what="the training held after epoch 2")
    first.kill()
    killed_at = saved_epoch(settings)
    assert killed_at == int(first.held_marker.read_text()) == 2
    assert "retrain decision: train" in first.log()
    assert "promotion:" not in first.log(), "the kill should land before the training finished"
    total = int(re.findall(r"epoch \d+/(\d+)", first.log())[0])
    assert killed_at < total

    second = TrainerProcess(settings, tmp_path / "second.log", stop_after_trainings=1)
    trainer_processes.append(second)
    assert second.wait(timeout_s=150) == 0, second.log()[-3000:]
    log = second.log()

    # resumed: the same run, from the saved epoch; no epoch before it was trained again
    assert "retrain decision: resume" in log
    resumed = re.search(r"resuming run (\w+) after epoch (\d+)", log)
    assert resumed is not None, log[-3000:]
    assert int(resumed.group(2)) >= killed_at
    trained_again = [int(e) for e in re.findall(r"epoch (\d+)/\d+ loss", log)]
    assert trained_again and min(trained_again) == int(resumed.group(2)) + 1 and max(trained_again) == total
    assert f"run {resumed.group(1)}:" in first.log(), "the resumed run is the one the first process started"

    # promoted and announced; nothing lost, everything committed
    from model.registry import ModelRegistry

    registry = ModelRegistry(Path(settings.model.registry))
    version = registry.current()
    assert version is not None
    updates = read_topic(settings, settings.topics.model_updates, expect=1)
    assert [decode_model_update(m.value()).model_version for m in updates] == [version]
    assert stored_ids(settings) == {post_id for post_id, _ in events}
    assert committed_total(settings) == N_POSTS
