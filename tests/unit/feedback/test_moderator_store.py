"""The store resolves disagreement by distinct moderators, and the retrain caps one moderator's share
(the excess stays new for the next run). A real store in a temp dir, a fake training, a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedback.retrain import RetrainJob
from feedback.store import FeedbackRecord, FeedbackStore
from feedback.triggers import RetrainPolicy, RetrainTrigger
from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS
from tests.unit.feedback.test_retrain import FakeOutcome
from trainer.dataset import Dataset

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def rec(post_id: str, labels: tuple[str, ...], moderator: str | None, minutes: int) -> FeedbackRecord:
    at = T0 + timedelta(minutes=minutes)
    return FeedbackRecord(
        post_id, labels, f"text {post_id}", None, None, "absent", at, moderator_id=moderator
    )


def test_a_late_writer_does_not_overturn_two_colleagues(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, now=0.0)
    assert store.put_many([rec("p", ("Racist",), "alice", 1)], DEFAULT_BENIGN) == ["inserted"]
    assert store.put_many([rec("p", ("Racist",), "bob", 2)], DEFAULT_BENIGN) == ["updated"]  # winner moved
    assert store.put_many([rec("p", (), "mallory", 9)], DEFAULT_BENIGN) == ["unchanged"]
    assert store.put_many([rec("p", ("NotHate",), "mallory", 10)], DEFAULT_BENIGN) == ["unchanged"]
    example = store.get("p")
    assert example is not None and example.record.labels == ("Racist",)
    assert example.record.moderator_id == "bob"
    # bob changes his mind: alice Racist, bob and mallory benign -> benign (2 to 1)
    assert store.put_many([rec("p", (), "bob", 11)], DEFAULT_BENIGN) == ["updated"]
    example = store.get("p")
    assert example is not None and example.record.labels == () and example.record.moderator_id == "bob"
    # an older decision of one moderator changes nothing; a redelivery neither
    assert store.put_many([rec("p", ("Sexist",), "bob", 3), rec("p", (), "bob", 11)], DEFAULT_BENIGN) == [
        "older",
        "unchanged",
    ]
    assert len(store.decisions("p")) == 3


def test_one_moderators_flood_is_capped_and_the_rest_deferred(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, now=0.0)
    flood = [rec(f"m{i}", ("Racist",), "mallory", i) for i in range(301)]
    honest = [rec(f"h{i}", ("Sexist",), f"mod{i % 4}", i) for i in range(120)]
    store.put_many(flood + honest, DEFAULT_BENIGN)
    trained: list[Dataset] = []
    now = [0.0]

    def train(dataset: Dataset, _work: Path) -> FakeOutcome:
        trained.append(dataset)
        return FakeOutcome(version=None, promoted=False)

    job = RetrainJob(
        store,
        RetrainTrigger(RetrainPolicy(min_examples=100, interval_s=1e9), clock=lambda: now[0]),
        train=train,
        make_update=lambda o: {},
        publish=lambda u: None,
        label_set=lambda: (DEFAULT_LABELS, DEFAULT_BENIGN),
        clock=lambda: now[0],
        spawn=lambda work: work(),
        moderator_share=0.25,
    )
    job.tick()  # starts and (synchronously) runs
    job.tick()  # harvests
    assert len(trained) == 1
    keys = [e.key for e in trained[0].examples]
    mallory = [k for k in keys if k.startswith("m")]
    assert len(mallory) == 40 and len(keys) == 160  # 40 <= 0.25 * 160
    assert mallory == [f"m{i}" for i in range(40)]  # the oldest
    # the 261 deferred are new again, but alone they are no retrain (the trigger counts usable ones)
    state = store.training_state()
    assert store.count_new_since(state.last_trained_seq) == 261
    job.tick()
    assert len(trained) == 1
    # colleagues arrive: the next run uses some of the deferred flood, still within the share
    store.put_many([rec(f"n{i}", ("Religion",), f"mod{i % 5}", 500 + i) for i in range(300)], DEFAULT_BENIGN)
    job.tick()
    job.tick()
    assert len(trained) == 2
    second = [e.key for e in trained[1].examples]
    new_in_second = [k for k in second if k.startswith(("m", "n")) and k not in keys]
    from_mallory = [k for k in new_in_second if k.startswith("m")]
    assert 0 < len(from_mallory) <= 0.25 * len(new_in_second)
