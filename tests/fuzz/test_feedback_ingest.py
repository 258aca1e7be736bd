"""Fuzz target (b): hostile feedback through the trainer's ingestion, into a real FeedbackStore.

`FeedbackIngestor.ingest(messages)` with the real store (SQLite + blobs, in a temporary directory on
tmpfs when there is one), a stub fetch that answers by URL (ok, failed, blocked, or bytes that are no
image) and the default label set. Whatever the messages: no exception escapes, every message ends stored
(inserted, updated, unchanged or older: the last two are "ignored") or dead-lettered, exactly one of
them, and a message is dead-lettered at "decode" exactly when the decoder refuses it.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from events.schemas import InvalidEvent, decode_feedback
from feedback.ingest import FeedbackIngestor, FetchOutcome
from feedback.store import FeedbackStore
from model.labels import DEFAULT_LABELS
from tests.fuzz.grammar import feedback, keys

_offsets = itertools.count()


@dataclass
class Msg:
    raw: bytes | None
    k: bytes | None
    off: int

    def value(self) -> bytes | None:
        return self.raw

    def key(self) -> bytes | None:
        return self.k

    def topic(self) -> str | None:
        return "moderation-feedback"

    def partition(self) -> int | None:
        return 0

    def offset(self) -> int | None:
        return self.off


@dataclass(frozen=True)
class Fetched:
    status: Literal["ok", "failed", "blocked"]
    data: bytes | None = None
    reason: str | None = None


def fetch_many(urls: Sequence[str]) -> dict[str, FetchOutcome]:
    out: dict[str, FetchOutcome] = {}
    for url in urls:
        if "blocked" in url:
            out[url] = Fetched("blocked", reason="private_address")
        elif "ok" in url:
            out[url] = Fetched("ok", b"IMG" + url.encode("utf-8", "replace")[:64])
        elif "junk" in url:
            out[url] = Fetched("ok", b"not an image")
        else:
            out[url] = Fetched("failed", reason="http_404")
    return out


def check_image(data: bytes) -> str | None:
    return None if data.startswith(b"IMG") else "undecodable"


@pytest.fixture(scope="module")
def store() -> Iterator[FeedbackStore]:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    directory = Path(tempfile.mkdtemp(prefix="modstream-fuzz-", dir=base))
    try:
        yield FeedbackStore.open(directory, now=0.0)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@given(messages=st.lists(st.tuples(keys(), feedback()), min_size=1, max_size=4))
def test_every_feedback_is_stored_ignored_or_dead_lettered(
    store: FeedbackStore, messages: list[tuple[bytes | None, bytes | None]]
) -> None:
    ingestor = FeedbackIngestor(
        store, fetch_many=fetch_many, labels=lambda: DEFAULT_LABELS, check_image=check_image
    )
    batch = [Msg(value, key, next(_offsets)) for key, value in messages]
    outcome = ingestor.ingest(batch)  # must not raise, whatever the messages

    assert sum(outcome.stored.values()) + len(outcome.dead_letters) == len(batch)
    dead_offsets = [letter.message.offset() for letter in outcome.dead_letters]
    assert len(set(dead_offsets)) == len(dead_offsets)  # at most one dead letter per message
    for kind, count in outcome.stored.items():
        event(f"stored: {kind}") if count else None
    for msg in batch:
        try:
            decode_feedback(msg.raw)
            refused: str | None = None
        except InvalidEvent as exc:
            refused = exc.reason
        event(f"decode: {refused or 'ok'}")
        letters = [d for d in outcome.dead_letters if d.message is msg]
        if refused is not None:
            assert [(d.stage, d.error_type) for d in letters] == [("decode", refused)]
        else:
            assert all(d.stage != "decode" for d in letters)
            for d in letters:
                event(f"dead letter: {d.stage}/{d.error_type}")
