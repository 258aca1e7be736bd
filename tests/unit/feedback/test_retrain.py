"""RetrainJob with a real store in a temp dir, a fake training, a fake clock and a synchronous spawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feedback.retrain import Outcome, RetrainJob
from feedback.store import FeedbackRecord, FeedbackStore
from feedback.triggers import RetrainPolicy, RetrainTrigger
from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS
from trainer.dataset import Dataset

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeOutcome:
    version: str | None
    promoted: bool
    candidate_metrics: dict[str, float] = field(default_factory=lambda: {"macro_f1": 0.5})
    reason: str = "fake"


@dataclass
class Harness:
    store: FeedbackStore
    now: list[float]
    trained: list[tuple[Dataset, Path]] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    fail_training: bool = False
    fail_publish: bool = False
    run_training: bool = True  # False: the training "never returns" (the process dies during it)

    def job(self) -> RetrainJob:
        def train(dataset: Dataset, work_dir: Path) -> Outcome:
            self.trained.append((dataset, work_dir))
            if self.fail_training:
                raise RuntimeError("boom")
            return FakeOutcome(version=f"v{len(self.trained)}", promoted=True)

        def publish(update: dict[str, Any]) -> None:
            if self.fail_publish:
                raise ConnectionError("broker down")
            self.published.append(update)

        def spawn(work: Callable[[], None]) -> None:
            if self.run_training:
                work()

        return RetrainJob(
            self.store,
            RetrainTrigger(RetrainPolicy(min_examples=3, interval_s=100.0), clock=lambda: self.now[0]),
            train=train,
            make_update=lambda o: {"model_version": o.version, "path": f"/models/{o.version}"},
            publish=publish,
            label_set=lambda: (DEFAULT_LABELS, DEFAULT_BENIGN),
            clock=lambda: self.now[0],
            spawn=spawn,
        )

    def add(self, *post_ids: str, labels: tuple[str, ...] = ("Racist",), minutes: int = 0) -> None:
        at = T0 + timedelta(minutes=minutes)
        self.store.put_many(
            [FeedbackRecord(p, labels, f"text {p}", None, None, "absent", at) for p in post_ids]
        )


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(FeedbackStore.open(tmp_path, now=0.0), now=[0.0])


def test_trains_on_the_count_promotes_and_announces(h: Harness) -> None:
    job = h.job()
    h.add("a", "b")
    assert job.tick() is False and h.trained == []  # 2 < 3
    h.add("c")
    assert job.tick() is False and job.busy  # started (the fake finished at once; harvested next tick)
    assert h.store.training_state().running is not None
    assert job.tick() is True and not job.busy
    dataset, work_dir = h.trained[0]
    assert [e.key for e in dataset.examples] == ["a", "b", "c"]
    assert work_dir == h.store.data_dir / "training" / "run-000000003" / "work"
    assert h.published == [{"model_version": "v1", "path": "/models/v1"}]
    state = h.store.training_state()
    assert (state.running, state.last_trained_seq, state.pending_update) == (None, 3, None)
    assert job.tick() is False and len(h.trained) == 1  # nothing new


def test_a_failed_training_backs_off_then_retries(h: Harness) -> None:
    job = h.job()
    h.fail_training = True
    h.add("a", "b", "c")
    job.tick()
    assert job.tick() is True and job.finished == 1
    assert h.store.training_state().last_failed
    h.fail_training = False
    job.tick()
    assert len(h.trained) == 1  # backing off
    h.now[0] = 100.0
    job.tick()
    job.tick()
    assert len(h.trained) == 2 and h.published and not h.store.training_state().last_failed


def test_a_crash_during_training_resumes_on_the_same_frozen_data(h: Harness) -> None:
    h.run_training = False  # the process dies in the middle: the training never returns
    h.add("a", "b", "c")
    h.job().tick()
    assert len(h.trained) == 0 and h.store.training_state().running is not None

    h.add("a", labels=("Sexist",), minutes=5)  # the store moves on after the crash
    h.run_training = True
    job = h.job()  # "restart"
    job.tick()
    job.tick()
    dataset, work_dir = h.trained[0]
    assert work_dir.parent.name == "run-000000003"  # the same run, so it resumes its work_dir
    racist = DEFAULT_LABELS.index("Racist")
    assert [(e.key, e.targets[racist]) for e in dataset.examples] == [("a", 1.0), ("b", 1.0), ("c", 1.0)]
    state = h.store.training_state()
    assert state.last_trained_seq == 3 and state.running is None
    assert h.store.count_new_since(3) == 1  # the later decision on "a" is new for the next training


def test_a_training_that_keeps_crashing_is_given_up(h: Harness) -> None:
    h.run_training = False
    h.add("a", "b", "c")
    for _ in range(3):  # first start + 2 resumes, each "crashing"
        h.job().tick()
    assert h.store.training_state().running is not None
    h.job().tick()
    state = h.store.training_state()
    assert state.running is None and state.last_failed


def test_an_unacknowledged_update_is_published_after_a_restart(h: Harness) -> None:
    job = h.job()
    h.fail_publish = True
    h.add("a", "b", "c")
    job.tick()
    with pytest.raises(ConnectionError):
        job.tick()
    assert h.store.training_state().pending_update == {"model_version": "v1", "path": "/models/v1"}
    h.fail_publish = False
    h.job().tick()  # restart
    assert h.published == [{"model_version": "v1", "path": "/models/v1"}]
    assert h.store.training_state().pending_update is None
    assert len(h.trained) == 1  # not retrained
