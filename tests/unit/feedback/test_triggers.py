"""The retrain trigger: a rule table, driven by a fake clock."""

from __future__ import annotations

import pytest

from feedback.store import TrainingRun, TrainingState
from feedback.triggers import RetrainPolicy, RetrainTrigger, decide

POLICY = RetrainPolicy(min_examples=10, interval_s=100.0, max_attempts=3)


@pytest.mark.parametrize(
    ("new", "now", "last_at", "failed", "attempts", "action"),
    [
        (0, 1000.0, 0.0, False, None, "wait"),  # nothing new, however long ago
        (9, 50.0, 0.0, False, None, "wait"),  # below the count, before the interval
        (10, 50.0, 0.0, False, None, "train"),  # the count reached
        (11, 0.0, 0.0, False, None, "train"),
        (1, 99.9, 0.0, False, None, "wait"),  # just before the interval
        (1, 100.0, 0.0, False, None, "train"),  # the interval, with one new example
        (0, 100.0, 0.0, False, None, "wait"),  # the interval, but nothing new
        (50, 50.0, 0.0, True, None, "wait"),  # failed recently: back off even above the count
        (50, 100.0, 0.0, True, None, "train"),  # back-off over
        (0, 0.0, 0.0, False, 1, "resume"),  # an unfinished run resumes even with nothing new
        (5, 0.0, 0.0, True, 2, "resume"),
        (5, 0.0, 0.0, False, 3, "give_up"),  # started 3 times and never finished
    ],
)
def test_rule_table(
    new: int, now: float, last_at: float, failed: bool, attempts: int | None, action: str
) -> None:
    decision = decide(
        POLICY,
        new_examples=new,
        now=now,
        last_training_at=last_at,
        last_failed=failed,
        running_attempts=attempts,
    )
    assert decision.action == action, decision.reason


def test_trigger_reads_the_injected_clock() -> None:
    now = [1000.0]
    trigger = RetrainTrigger(POLICY, clock=lambda: now[0])
    state = TrainingState(
        last_trained_seq=4, last_training_at=1000.0, last_failed=False, running=None, pending_update=None
    )
    assert trigger.decide(state, new_examples=3).action == "wait"
    now[0] += 99.0
    assert trigger.decide(state, new_examples=3).action == "wait"
    now[0] += 1.0
    assert trigger.decide(state, new_examples=3).action == "train"


def test_trigger_resumes_an_open_run() -> None:
    run = TrainingRun(snapshot_seq=7, labels=("a", "b"), benign_label="a", started_at=0.0, attempts=1)
    state = TrainingState(
        last_trained_seq=0, last_training_at=0.0, last_failed=False, running=run, pending_update=None
    )
    assert RetrainTrigger(POLICY, clock=lambda: 0.0).decide(state, new_examples=0).action == "resume"
