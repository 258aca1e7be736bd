"""Hostile feedback: every record gets its own outcome, and only an outage of the store raises.

A real store in a temp dir; stub messages and a fake fetch from test_ingest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from feedback.ingest import FeedbackIngestor, FetchOutcome, is_outage
from feedback.store import FeedbackRecord, FeedbackStore, PutOutcome
from model.labels import DEFAULT_LABELS
from tests.unit.feedback.test_ingest import FakeFetch, Fetched, Msg, fb, ingestor

NESTED = b'{"post_id": "n", "labels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore.open(tmp_path, now=0.0)


def letters(outcome: object) -> list[tuple[int | None, str, str]]:
    return [(d.message.offset(), d.stage, d.error_type) for d in outcome.dead_letters]  # type: ignore[attr-defined]


def test_end_of_time_and_deep_nesting_are_dead_letters_and_the_rest_is_stored(store: FeedbackStore) -> None:
    out = ingestor(store, FakeFetch({})).ingest(
        [
            fb("a", 0, text="before"),
            fb("late", 1, text="x", decided_at="9999-12-31T23:59:59-05:00"),
            Msg(NESTED, off=2),
            fb("b", 3, text="after"),
        ]
    )
    assert out.stored["inserted"] == 2
    assert store.get("a") is not None and store.get("b") is not None and store.get("late") is None
    # the wire schema refuses both now (timestamps outside [2000, 2100), nesting past MAX_JSON_DEPTH);
    # ingestion's own decided_at check stays as a second line behind it
    assert letters(out) == [(1, "decode", "schema"), (2, "decode", "too_deep")]
    detail = out.dead_letters[0].detail
    assert "decided_at" in detail and "\n" not in detail


class FlakyStore(FeedbackStore):
    """A real store whose writes raise `error` whenever the batch holds post_id `bad`."""

    error: Exception = ValueError("boom")

    def put_many(
        self, records: Sequence[FeedbackRecord], benign_label: str | None = None
    ) -> list[PutOutcome]:
        if any(r.post_id == "bad" for r in records):
            raise self.error
        return super().put_many(records, benign_label)


def flaky(tmp_path: Path, error: Exception) -> FlakyStore:
    db = FeedbackStore.open(tmp_path, now=0.0)
    store = FlakyStore(db.data_dir, db._db)
    store.error = error
    return store


@pytest.mark.parametrize(
    "error", [ValueError("x"), OverflowError("x"), sqlite3.IntegrityError("x"), TypeError("x"), KeyError("x")]
)
def test_any_record_error_at_the_store_dead_letters_only_that_record(
    tmp_path: Path, error: Exception
) -> None:
    store = flaky(tmp_path, error)
    out = ingestor(store, FakeFetch({})).ingest(
        [fb("a", 0, text="1"), fb("bad", 1, text="2"), fb("c", 2, text="3")]
    )
    assert letters(out) == [(1, "store", type(error).__name__)]
    assert out.stored["inserted"] == 2


@pytest.mark.parametrize(
    "error",
    [sqlite3.OperationalError("disk I/O error"), OSError(28, "No space left"), sqlite3.DatabaseError("x")],
)
def test_an_outage_of_the_store_raises_so_nothing_is_committed(tmp_path: Path, error: Exception) -> None:
    store = flaky(tmp_path, error)
    with pytest.raises(type(error)):
        ingestor(store, FakeFetch({})).ingest([fb("a", 0, text="1"), fb("bad", 1, text="2")])


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (sqlite3.OperationalError(), True),
        (sqlite3.InternalError(), True),
        (sqlite3.DatabaseError(), True),
        (OSError(), True),
        (MemoryError(), True),
        (sqlite3.IntegrityError(), False),
        (sqlite3.DataError(), False),
        (sqlite3.InterfaceError(), False),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), False),
        (OverflowError(), False),
        (RecursionError(), False),
    ],
)
def test_is_outage_table(error: BaseException, outage: bool) -> None:
    assert is_outage(error) is outage


def test_a_raising_image_check_or_fetch_means_no_image_not_a_crash(store: FeedbackStore) -> None:
    def explode(data: bytes) -> str | None:
        raise RuntimeError("decoder bug")

    url = "http://img/a"
    ing = FeedbackIngestor(
        store,
        fetch_many=FakeFetch({url: Fetched("ok", b"IMG")}),
        labels=lambda: DEFAULT_LABELS,
        check_image=explode,
    )
    out = ing.ingest([fb("t", 0, image_url=url, text="words"), fb("i", 1, image_url=url)])
    assert letters(out) == [(1, "fetch", "image_failed")]
    record = store.get("t")
    assert record is not None and record.record.image_status == "failed"
    assert record.record.image_reason == "check raised RuntimeError"

    def broken_fetch(urls: Sequence[str]) -> dict[str, FetchOutcome]:
        raise RuntimeError("pool gone")

    ing = FeedbackIngestor(store, fetch_many=broken_fetch, labels=lambda: DEFAULT_LABELS)
    out = ing.ingest(
        [fb("t2", 2, image_url="http://img/b", text="words"), fb("i2", 3, image_url="http://img/b")]
    )
    assert letters(out) == [(3, "fetch", "image_failed")]
    assert out.stored["inserted"] == 1


def test_every_message_gets_exactly_one_outcome(store: FeedbackStore) -> None:
    hostile = [
        Msg(NESTED, off=0),
        Msg(b"\xff\xfe", off=1),
        Msg(json.dumps({"post_id": "x" * 10, "labels": "Racist", "text": "t"}).encode(), off=2),
        fb("late", 3, text="x", decided_at="9999-12-31T23:59:59-05:00"),
        fb("early", 4, text="x", decided_at="0001-01-01T00:00:00+05:00"),
        Msg(b'{"post_id": "s", "labels": [], "text": "\\udfff"}', off=5),
        fb("ok", 6, text="fine"),
    ]
    out = ingestor(store, FakeFetch({})).ingest(hostile)
    assert sum(out.stored.values()) + len(out.dead_letters) == len(hostile)
    assert {d.message.offset() for d in out.dead_letters} == {0, 1, 2, 3, 4, 5}
