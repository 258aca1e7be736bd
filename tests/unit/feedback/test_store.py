"""The feedback store on a real SQLite file in a temp dir: latest wins, idempotency, blobs, training state."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from feedback.store import FeedbackRecord, FeedbackStore, TrainingRun

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def record(post_id: str, labels: tuple[str, ...], at: datetime, text: str = "some text") -> FeedbackRecord:
    return FeedbackRecord(
        post_id=post_id,
        labels=labels,
        text=text,
        image_url=None,
        image_sha256=None,
        image_status="absent",
        decided_at=at,
    )


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore.open(tmp_path / "data", now=1000.0)


def test_latest_decision_wins_and_an_older_one_arriving_later_changes_nothing(store: FeedbackStore) -> None:
    assert store.put_many([record("p1", ("Racist",), T0)]) == ["inserted"]
    assert store.put_many([record("p1", ("Sexist",), T0 + timedelta(minutes=5))]) == ["updated"]
    assert store.put_many([record("p1", ("NotHate",), T0 + timedelta(minutes=1))]) == ["older"]
    stored = store.get("p1")
    assert stored is not None
    assert stored.record.labels == ("Sexist",)
    assert stored.record.decided_at == T0 + timedelta(minutes=5)
    assert len(store) == 1


def test_within_one_batch_the_latest_wins_whatever_the_order(store: FeedbackStore) -> None:
    late, early = record("p1", ("Racist",), T0 + timedelta(hours=1)), record("p1", ("Sexist",), T0)
    assert store.put_many([late, early]) == ["inserted", "older"]
    assert store.get("p1").record.labels == ("Racist",)  # type: ignore[union-attr]


def test_redelivery_is_idempotent_and_not_counted_as_new(store: FeedbackStore) -> None:
    batch = [record(f"p{i}", ("Racist",), T0) for i in range(3)]
    assert store.put_many(batch) == ["inserted"] * 3
    assert store.put_many(batch) == ["unchanged"] * 3  # a restart re-reads uncommitted offsets
    assert len(store) == 3
    assert store.latest_seq() == 3
    assert store.count_new_since(0) == 3


def test_sequence_numbers_make_updates_new_again(store: FeedbackStore) -> None:
    store.put_many([record("a", (), T0), record("b", (), T0)])
    assert store.count_new_since(2) == 0
    store.put_many([record("a", ("Racist",), T0 + timedelta(seconds=1))])
    assert store.count_new_since(2) == 1
    assert [e.record.post_id for e in store.examples()] == ["b", "a"]  # ingestion order
    assert [e.record.post_id for e in store.examples(max_seq=2)] == ["b"]


def test_naive_and_offset_timestamps_compare_as_utc(store: FeedbackStore) -> None:
    store.put_many([record("p", ("Racist",), T0)])
    plus_two = datetime(2026, 11, 30, 18, 30, tzinfo=timezone(timedelta(hours=2)))  # = 16:30 UTC
    assert store.put_many([record("p", ("Sexist",), plus_two)]) == ["updated"]
    assert store.put_many([record("p", ("Religion",), datetime(2026, 11, 30, 16, 0))]) == ["older"]


def test_blobs_are_content_addressed_and_written_once(store: FeedbackStore) -> None:
    data = b"\x89PNG fake image bytes"
    sha = store.put_blob(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.blob_path(sha)
    assert path == store.data_dir / "blobs" / sha[:2] / sha
    assert path.read_bytes() == data
    mtime = path.stat().st_mtime_ns
    assert store.put_blob(data) == sha
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [sha]  # no tmp file left behind


def test_blob_for_url_needs_a_stored_example_and_the_file(store: FeedbackStore) -> None:
    sha = store.put_blob(b"img")
    url = "http://img/1.png"
    assert store.blob_for_url(url) is None  # a blob alone is not an example
    rec = FeedbackRecord("p", (), "t", url, sha, "ok", T0)
    store.put_many([rec])
    assert store.blob_for_url(url) == sha
    store.blob_path(sha).unlink()
    assert store.blob_for_url(url) is None  # fetch again rather than point at nothing


def test_everything_survives_reopening(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, now=1000.0)
    store.put_many([record("p1", ("Racist",), T0)])
    run = TrainingRun(
        snapshot_seq=1, labels=("NotHate", "Racist"), benign_label="NotHate", started_at=5.0, attempts=1
    )
    store.training_started(run)
    store.close()

    again = FeedbackStore.open(tmp_path, now=2000.0)
    assert again.get("p1") is not None
    state = again.training_state()
    assert state.running == run
    assert state.last_training_at == 1000.0  # the store's birth, not this reopening
    assert again.put_many([record("p2", (), T0)]) == ["inserted"]
    assert again.latest_seq() == 2


def test_training_lifecycle(store: FeedbackStore) -> None:
    store.put_many([record(f"p{i}", (), T0) for i in range(4)])
    run = TrainingRun(snapshot_seq=4, labels=("NotHate",), benign_label="NotHate", started_at=1.0, attempts=1)
    store.training_started(run)
    store.put_many([record("late", (), T0)])
    store.training_finished(run, at=3000.0, update={"model_version": "v1", "path": "/m/v1"})
    state = store.training_state()
    assert state.running is None
    assert state.last_trained_seq == 4
    assert state.last_training_at == 3000.0
    assert state.pending_update == {"model_version": "v1", "path": "/m/v1"}
    assert store.count_new_since(state.last_trained_seq) == 1  # arrived during the training
    store.update_published()
    assert store.training_state().pending_update is None

    store.training_started(run)
    store.training_failed(at=4000.0)
    state = store.training_state()
    assert (state.running, state.last_failed, state.last_trained_seq) == (None, True, 4)
