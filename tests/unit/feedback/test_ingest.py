"""Feedback ingestion with a stub message, a fake fetch and a real store in a temp dir."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from feedback.ingest import FeedbackIngestor, FetchOutcome, commit_positions
from feedback.store import FeedbackStore
from model.labels import DEFAULT_LABELS


@dataclass
class Msg:
    raw: bytes | None
    off: int = 0
    part: int = 0
    k: bytes | None = b"key"
    ts_ms: int | None = None  # the broker's timestamp; None = not available

    def value(self) -> bytes | None:
        return self.raw

    def key(self) -> bytes | None:
        return self.k

    def topic(self) -> str | None:
        return "feedback"

    def partition(self) -> int | None:
        return self.part

    def offset(self) -> int | None:
        return self.off

    def timestamp(self) -> tuple[int, int]:
        return (0, 0) if self.ts_ms is None else (1, self.ts_ms)


@dataclass(frozen=True)
class Fetched:
    status: Literal["ok", "failed", "blocked"]
    data: bytes | None = None
    reason: str | None = None


class FakeFetch:
    def __init__(self, routes: dict[str, Fetched]) -> None:
        self.routes = routes
        self.calls: list[list[str]] = []

    def __call__(self, urls: Sequence[str]) -> dict[str, FetchOutcome]:
        self.calls.append(list(urls))
        return {url: self.routes.get(url, Fetched("failed", reason="http_404")) for url in urls}


def fb(post_id: str, off: int = 0, **fields: Any) -> Msg:
    body = {"post_id": post_id, "labels": ["Racist"], "decided_at": "2026-11-30T15:05:00Z"} | fields
    return Msg(json.dumps(body).encode(), off=off)


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore.open(tmp_path, now=0.0)


def ingestor(store: FeedbackStore, fetch: FakeFetch) -> FeedbackIngestor:
    def check(data: bytes) -> str | None:
        return None if data.startswith(b"IMG") else "not_image"

    return FeedbackIngestor(store, fetch_many=fetch, labels=lambda: DEFAULT_LABELS, check_image=check)


def test_valid_invalid_and_unknown_labels(store: FeedbackStore) -> None:
    fetch = FakeFetch({})
    messages = [
        fb("1", 0, text="hello"),
        Msg(b"not json", off=1),
        Msg(None, off=2),
        fb("3", 3, labels=["Racist", "Spam"], text="x"),  # Spam is not a label in force
        fb("4", 4, labels=[], text="benign"),
        Msg(json.dumps({"post_id": "5", "labels": ["Racist"]}).encode(), off=5),  # no content
    ]
    outcome = ingestor(store, fetch).ingest(messages)
    assert outcome.stored["inserted"] == 2
    letters = {(d.message.offset(), d.stage, d.error_type) for d in outcome.dead_letters}
    assert letters == {
        (1, "decode", "not_json"),
        (2, "decode", "empty"),
        (3, "validate", "unknown_label"),
        (5, "decode", "schema"),
    }
    assert fetch.calls == []  # no image, no fetch
    assert store.get("4").record.labels == ()  # type: ignore[union-attr]


def test_images_fetched_once_and_stored_content_addressed(store: FeedbackStore) -> None:
    url = "http://img/a.png"
    fetch = FakeFetch({url: Fetched("ok", b"IMG-a")})
    ing = ingestor(store, fetch)
    out = ing.ingest([fb("1", 0, image_url=url), fb("2", 1, image_url=url, text="t")])
    assert out.stored["inserted"] == 2
    assert fetch.calls == [[url]]  # one fetch for both posts
    one = store.get("1")
    assert one is not None and one.record.image_status == "ok"
    assert store.blob_path(one.record.image_sha256 or "").read_bytes() == b"IMG-a"

    ing.ingest([fb("1", 2, image_url=url, decided_at="2026-11-30T16:00:00Z")])
    assert fetch.calls == [[url]]  # a later decision reuses the stored blob: fetched ONCE


@pytest.mark.parametrize(
    ("result", "status", "reason"),
    [
        (Fetched("failed", reason="http_404"), "failed", "http_404"),
        (Fetched("blocked", reason="private_address"), "blocked", "private_address"),
        (Fetched("ok", b"<html>"), "failed", "not_image"),  # fetched but not an image
    ],
)
def test_unusable_image_stores_text_only_or_dead_letters(
    store: FeedbackStore, result: Fetched, status: str, reason: str
) -> None:
    url = "http://img/x"
    out = ingestor(store, FakeFetch({url: result})).ingest(
        [fb("with-text", 0, image_url=url, text="words"), fb("image-only", 1, image_url=url)]
    )
    stored = store.get("with-text")
    assert stored is not None
    assert (stored.record.image_status, stored.record.image_reason, stored.record.image_sha256) == (
        status,
        reason,
        None,
    )
    assert store.get("image-only") is None
    assert [(d.message.offset(), d.stage, d.error_type) for d in out.dead_letters] == [
        (1, "fetch", f"image_{status}")
    ]
    assert not list(store.blob_dir.rglob("*"))  # nothing unusable kept


def test_commit_positions_one_past_the_highest_offset_per_partition() -> None:
    batch = [
        Msg(b"", off=7, part=0),
        Msg(b"", off=9, part=0),
        Msg(b"", off=8, part=0),
        Msg(b"", off=3, part=2),
    ]
    assert commit_positions(batch) == {("feedback", 0): 10, ("feedback", 2): 4}
    assert commit_positions([]) == {}
