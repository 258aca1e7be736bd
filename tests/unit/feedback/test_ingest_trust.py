"""Ingestion's trust rules: moderator required, decided_at clamped to the broker time, content checked
against what was scored (held when not scored yet). Stub messages, a fake fetch, a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.content import content_id, image_digest
from feedback.ingest import FeedbackIngestor
from feedback.scored import Scored
from feedback.store import FeedbackStore
from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS
from tests.unit.feedback.test_ingest import FakeFetch, Fetched, Msg

PNG = b"IMG the scored image"
URL = "http://img.test/a.png"
BROKER_MS = int(datetime(2026, 11, 30, 16, 0, tzinfo=UTC).timestamp() * 1000)


def msg(post_id: str, off: int = 0, **fields: Any) -> Msg:
    body = {"post_id": post_id, "labels": ["Racist"], "moderator_id": "alice"} | fields
    return Msg(json.dumps(body).encode(), off=off, ts_ms=BROKER_MS)


def make(store: FeedbackStore, scored: dict[str, Scored] | None, **options: Any) -> FeedbackIngestor:
    return FeedbackIngestor(
        store,
        fetch_many=FakeFetch({URL: Fetched("ok", PNG)}),
        labels=lambda: DEFAULT_LABELS,
        benign=lambda: DEFAULT_BENIGN,
        check_image=lambda data: None,
        scored=None if scored is None else scored.get,
        **options,
    )


def as_scored(post_id: str, text: str | None, image: bytes | None, status: str = "ok") -> Scored:
    cid = content_id(text, None if image is None else image_digest(image))
    return Scored(post_id, cid, {"Racist": 0.9, "NotHate": 0.1}, True, "v1", status)


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore.open(tmp_path, now=0.0)


def test_a_future_dated_decision_is_clamped_to_the_broker_time(store: FeedbackStore) -> None:
    ingest = make(store, None)
    ingest.ingest([msg("p", text="t", decided_at="2099-01-01T00:00:00Z")])
    example = store.get("p")
    assert example is not None
    assert example.record.decided_at == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    # a correction a minute later (by broker time) wins over the "2099" decision
    later = Msg(
        json.dumps(
            {
                "post_id": "p",
                "labels": [],
                "moderator_id": "alice",
                "text": "t",
                "decided_at": "2026-11-30T16:01:00Z",
            }
        ).encode(),
        off=1,
        ts_ms=BROKER_MS + 60_000,
    )
    assert ingest.ingest([later]).stored["updated"] == 1
    example = store.get("p")
    assert example is not None and example.record.labels == ()


def test_the_moderator_is_required_when_so_configured(store: FeedbackStore) -> None:
    outcome = make(store, None, require_moderator=True).ingest(
        [
            msg("a", text="t", moderator_id=None),
            msg("b", off=1, text="t", moderator_id="  "),
            msg("c", off=2, text="t"),
        ]
    )
    assert [(d.stage, d.error_type) for d in outcome.dead_letters] == [("validate", "missing_moderator")] * 2
    assert store.get("c") is not None and store.get("a") is None
    assert make(store, None).ingest([msg("a", off=3, text="t", moderator_id=None)]).stored["inserted"] == 1


@pytest.mark.parametrize(
    ("fields", "scored", "outcome"),
    [
        ({"text": "hello", "image_url": URL}, as_scored("p", "hello", PNG), "stored"),
        ({"text": "hello"}, as_scored("p", "hello", None, "absent"), "stored"),
        ({"text": "other", "image_url": URL}, as_scored("p", "hello", PNG), "content_mismatch"),
        ({"text": "hello", "image_url": URL}, as_scored("p", "hello", b"IMG other"), "content_mismatch"),
        (
            {"text": "hello", "image_url": "http://img.test/gone"},
            as_scored("p", "hello", PNG),
            "content_mismatch",
        ),
        ({"text": "hello"}, Scored("p", None, {}, False, "v0", "absent"), "unverifiable"),
        ({"text": "hello", "image_url": URL}, None, "held"),
    ],
)
def test_content_is_checked_against_what_was_scored(
    store: FeedbackStore, fields: dict[str, Any], scored: Scored | None, outcome: str
) -> None:
    message = msg("p", **fields)
    result = make(store, {} if scored is None else {"p": scored}).ingest([message])
    if outcome == "stored":
        assert result.stored["inserted"] == 1 and not result.dead_letters and not result.held
        assert [j.post_id for j in result.judged] == ["p"]
    elif outcome == "held":
        assert result.held == [(message, "p")] and not result.dead_letters and store.get("p") is None
    else:
        assert [(d.stage, d.error_type) for d in result.dead_letters] == [("verify", outcome)]
        assert store.get("p") is None and not result.judged


def test_scored_text_only_stores_no_image(store: FeedbackStore) -> None:
    scored = as_scored("p", "hello", None, "failed")
    result = make(store, {"p": scored}).ingest([msg("p", text="hello", image_url=URL)])
    example = store.get("p")
    assert result.stored["inserted"] == 1
    assert (
        example is not None
        and example.record.image_sha256 is None
        and example.record.image_status == "failed"
    )
