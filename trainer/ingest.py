"""Feedback ingestion: a batch of Kafka messages in, stored examples and dead letters out.

    >>> ingestor = FeedbackIngestor(store, fetch_many=fetcher_adapter, labels=lambda: DEFAULT_LABELS)
    >>> outcome = ingestor.ingest(messages)          # every message ends stored, ignored or dead-lettered
    >>> producer.send_dead_letters(outcome.dead_letters); commit(commit_positions(messages))

Per message, in order:

    decode (events.schemas.decode_feedback)      invalid          -> dead letter, stage "decode"
    labels in the label set in force?            unknown name     -> dead letter, stage "validate"
    image_url: reuse a blob already fetched from that URL, else fetch it ONCE (the whole batch at once)
        fetched and decodable                    -> stored as a blob, image_status "ok"
        failed / blocked / undecodable           -> text-only, image_status says why
        ... and the feedback has no text         -> dead letter, stage "fetch"
    store.put_many (one durable transaction)     latest decided_at per post_id wins

Nothing here talks to Kafka or HTTP: the fetch and the label set are passed in, and the caller commits
offsets only after `ingest` returned (the store is durable by then) and the dead letters are acknowledged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from events.schemas import Feedback, InvalidEvent, decode_feedback
from trainer.store import FeedbackRecord, FeedbackStore, PutOutcome

log = logging.getLogger(__name__)


class Message(Protocol):
    """The part of confluent_kafka.Message ingestion reads; tests pass a plain stub."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


class FetchOutcome(Protocol):
    """The part of fetcher.FetchResult ingestion reads."""

    @property
    def status(self) -> Literal["ok", "failed", "blocked"]: ...
    @property
    def data(self) -> bytes | None: ...
    @property
    def reason(self) -> str | None: ...


# urls -> one outcome per distinct url; must not raise for a single bad url
FetchMany = Callable[[Sequence[str]], dict[str, FetchOutcome]]
# image bytes -> None when usable, else a short reason ("undecodable", "bomb", ...)
ImageCheck = Callable[[bytes], str | None]


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    stage: Literal["decode", "validate", "fetch"]
    error_type: str
    detail: str


@dataclass
class BatchOutcome:
    stored: Counter[PutOutcome] = field(default_factory=Counter)
    image_status: Counter[str] = field(default_factory=Counter)
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class _Image:
    status: Literal["ok", "absent", "failed", "blocked"]
    sha256: str | None = None
    reason: str | None = None


class FeedbackIngestor:
    def __init__(
        self,
        store: FeedbackStore,
        *,
        fetch_many: FetchMany,
        labels: Callable[[], Sequence[str]],
        check_image: ImageCheck | None = None,
    ) -> None:
        self._store = store
        self._fetch_many = fetch_many
        self._labels = labels
        self._check_image = check_image

    def ingest(self, messages: Sequence[Message]) -> BatchOutcome:
        outcome = BatchOutcome()
        valid = self._validate(messages, outcome)
        images = self._images([fb.image_url for _, fb in valid if fb.image_url])
        records: list[FeedbackRecord] = []
        for message, fb in valid:
            image = images[fb.image_url] if fb.image_url else _Image("absent")
            has_text = bool(fb.text and fb.text.strip())
            if image.status != "ok" and not has_text:
                detail = f"the image is {image.status} ({image.reason}) and there is no text"
                outcome.dead_letters.append(DeadLetter(message, "fetch", f"image_{image.status}", detail))
                continue
            outcome.image_status[image.status] += 1
            records.append(
                FeedbackRecord(
                    post_id=fb.post_id,
                    labels=tuple(fb.labels),
                    text=fb.text if has_text else None,
                    image_url=fb.image_url,
                    image_sha256=image.sha256,
                    image_status=image.status,
                    image_reason=image.reason,
                    decided_at=fb.decided_at,
                    moderator_id=fb.moderator_id,
                )
            )
        outcome.stored.update(self._store.put_many(records))
        return outcome

    def _validate(self, messages: Sequence[Message], outcome: BatchOutcome) -> list[tuple[Message, Feedback]]:
        known = set(self._labels())
        valid: list[tuple[Message, Feedback]] = []
        for message in messages:
            try:
                feedback = decode_feedback(message.value())
            except InvalidEvent as exc:
                outcome.dead_letters.append(DeadLetter(message, "decode", exc.reason, exc.detail))
                continue
            unknown = [name for name in feedback.labels if name not in known]
            if unknown:
                detail = f"unknown labels {unknown}; the label set in force is {sorted(known)}"
                outcome.dead_letters.append(DeadLetter(message, "validate", "unknown_label", detail))
                continue
            valid.append((message, feedback))
        return valid

    def _images(self, urls: Sequence[str]) -> dict[str, _Image]:
        """Each distinct URL once: a blob already stored from it, or one fetch for the whole batch."""
        images: dict[str, _Image] = {}
        to_fetch: list[str] = []
        for url in dict.fromkeys(urls):
            sha = self._store.blob_for_url(url)
            if sha is not None:
                images[url] = _Image("ok", sha)
            else:
                to_fetch.append(url)
        if not to_fetch:
            return images
        fetched = self._fetch_many(to_fetch)
        for url in to_fetch:
            result = fetched[url]
            if result.status != "ok" or result.data is None:
                status: Literal["failed", "blocked"] = "blocked" if result.status == "blocked" else "failed"
                images[url] = _Image(status, reason=result.reason or "no data")
                continue
            problem = self._check_image(result.data) if self._check_image else None
            if problem is not None:
                images[url] = _Image("failed", reason=problem)
                continue
            images[url] = _Image("ok", self._store.put_blob(result.data))
        return images


def commit_positions(messages: Sequence[Message]) -> dict[tuple[str, int], int]:
    """The offset to commit per (topic, partition): one past the highest offset handled.

    A batch is handled whole before its offsets are committed, so within it there is no gap:

        partition 0: offsets 7 8 9 (all stored or dead-lettered)  -> commit 10
    """
    positions: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None or offset < 0:
            continue
        key = (topic, partition)
        positions[key] = max(positions.get(key, 0), offset + 1)
    return positions
