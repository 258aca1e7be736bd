"""Stored feedback -> Dataset: targets per label, benign forms, blob paths, the frozen snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from feedback.dataset import load_snapshot, save_snapshot, to_dataset
from feedback.store import FeedbackRecord, FeedbackStore
from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS
from trainer.dataset import fingerprint

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def rec(
    post_id: str, labels: tuple[str, ...], *, text: str | None = "t", sha: str | None = None
) -> FeedbackRecord:
    return FeedbackRecord(
        post_id=post_id,
        labels=labels,
        text=text,
        image_url="http://x" if sha else None,
        image_sha256=sha,
        image_status="ok" if sha else "absent",
        decided_at=T0,
    )


def test_conversion(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, now=0.0)
    sha = store.put_blob(b"image")
    store.put_many(
        [
            rec("racist", ("Racist",)),
            rec("two", ("Sexist", "Religion"), text=None, sha=sha),
            rec("empty", ()),
            rec("nothate", ("NotHate",)),
            rec("old-label-set", ("hate",)),  # stored under another label set: left out
        ]
    )
    ds = to_dataset(
        store.examples(), labels=DEFAULT_LABELS, benign_label=DEFAULT_BENIGN, blob_path=store.blob_path
    )
    assert ds.labels == DEFAULT_LABELS and ds.benign_label == "NotHate"
    by_key = {e.key: e for e in ds.examples}
    assert list(by_key) == ["racist", "two", "empty", "nothate"]
    assert by_key["racist"].targets == (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert by_key["two"].targets == (0.0, 0.0, 1.0, 0.0, 1.0, 0.0)
    assert by_key["empty"].targets == by_key["nothate"].targets == (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert by_key["two"].image_path == store.blob_path(sha) and by_key["two"].text is None
    assert by_key["racist"].image_path is None
    assert all(e.split is None for e in ds.examples)  # assign_split decides


def test_a_label_set_without_benign_label(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, now=0.0)
    store.put_many([rec("a", ()), rec("b", ("hate",))])
    ds = to_dataset(
        store.examples(), labels=("hate", "offensive"), benign_label=None, blob_path=store.blob_path
    )
    assert [e.targets for e in ds.examples] == [(0.0, 0.0), (1.0, 0.0)]


def test_snapshot_round_trip_keeps_the_fingerprint(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, now=0.0)
    sha = store.put_blob(b"image")
    store.put_many([rec("a", ("Racist",)), rec("b", (), sha=sha)])
    ds = to_dataset(
        store.examples(), labels=DEFAULT_LABELS, benign_label=DEFAULT_BENIGN, blob_path=store.blob_path
    )
    path = tmp_path / "run" / "dataset.json"
    save_snapshot(path, ds)
    again = load_snapshot(path)
    assert again == ds
    assert fingerprint(again) == fingerprint(ds)
