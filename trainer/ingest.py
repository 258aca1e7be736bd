"""Feedback ingestion: a batch of Kafka messages in, stored examples and dead letters out.

    >>> ingestor = FeedbackIngestor(store, fetch_many=fetcher_adapter, labels=lambda: DEFAULT_LABELS)
    >>> outcome = ingestor.ingest(messages)          # every message ends stored, ignored or dead-lettered
    >>> if send_dead_letters(sink, dlq_topic, outcome.dead_letters, sleep=stop.wait):   # all acknowledged
    ...     source.commit(commit_positions(messages))

Per message, in order:

    decode (events.schemas.decode_feedback)      invalid, or ANY error -> dead letter, stage "decode"
    labels in the label set in force?            unknown name     -> dead letter, stage "validate"
    decided_at storable (UTC, microseconds)?     out of range     -> dead letter, stage "validate"
    image_url: reuse a blob already fetched from that URL, else fetch it ONCE (the whole batch at once)
        fetched and decodable                    -> stored as a blob, image_status "ok"
        failed / blocked / undecodable           -> text-only, image_status says why
        ... and the feedback has no text         -> dead letter, stage "fetch"
    building its record raises                   -> dead letter, stage "image"
    store.put_many (one durable transaction)     latest decided_at per post_id wins
        the batch write raises                   -> written one by one; a record that still fails
                                                    is dead-lettered, stage "store"

One outcome per message: a hostile record (a datetime at the end of time, 100 KB of "[", anything
the decoder, the image check or the store chokes on) is that record's dead letter, never the end of
the batch. Only an outage raises: the store's disk or database failing (`is_outage`), which no dead
letter can fix; the caller then commits nothing, and a restart redoes the batch.

Nothing here talks to Kafka or HTTP: the fetch and the label set are passed in, and the caller commits
offsets only after `ingest` returned (the store is durable by then) and the dead letters are acknowledged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from events.schemas import Feedback, InvalidEvent, decode_feedback
from trainer.store import FeedbackRecord, FeedbackStore, PutOutcome, storable_time

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
    stage: Literal["decode", "validate", "fetch", "image", "store"]
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
        pending: list[tuple[Message, FeedbackRecord]] = []
        for message, fb in valid:
            try:
                record = self._record(fb, images)
            except _NoContent as exc:
                outcome.dead_letters.append(DeadLetter(message, "fetch", exc.error_type, str(exc)))
                continue
            except Exception as exc:
                if is_outage(exc):
                    raise
                outcome.dead_letters.append(DeadLetter(message, "image", type(exc).__name__, _one_line(exc)))
                continue
            outcome.image_status[record.image_status] += 1
            pending.append((message, record))
        self._store_all(pending, outcome)
        return outcome

    def _record(self, fb: Feedback, images: dict[str, _Image]) -> FeedbackRecord:
        image = (
            images.get(fb.image_url, _Image("failed", reason="not fetched"))
            if fb.image_url
            else _Image("absent")
        )
        has_text = bool(fb.text and fb.text.strip())
        if image.status != "ok" and not has_text:
            raise _NoContent(
                f"image_{image.status}", f"the image is {image.status} ({image.reason}) and there is no text"
            )
        return FeedbackRecord(
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

    def _store_all(self, pending: list[tuple[Message, FeedbackRecord]], outcome: BatchOutcome) -> None:
        """One durable transaction for the batch; if it fails, one per record, so only the culprit is
        dead-lettered (an outage still raises: nothing is committed, the restart redoes the batch)."""
        try:
            outcome.stored.update(self._store.put_many([record for _, record in pending]))
            return
        except Exception as exc:
            if is_outage(exc):
                raise
            log.warning(
                "feedback batch write failed (%s); writing its %d records one by one",
                _one_line(exc),
                len(pending),
            )
        for message, record in pending:
            try:
                outcome.stored.update(self._store.put_many([record]))
            except Exception as exc:
                if is_outage(exc):
                    raise
                outcome.dead_letters.append(DeadLetter(message, "store", type(exc).__name__, _one_line(exc)))

    def _validate(self, messages: Sequence[Message], outcome: BatchOutcome) -> list[tuple[Message, Feedback]]:
        known = set(self._labels())
        valid: list[tuple[Message, Feedback]] = []
        for message in messages:
            try:
                feedback = decode_feedback(message.value())
            except InvalidEvent as exc:
                outcome.dead_letters.append(DeadLetter(message, "decode", exc.reason, exc.detail))
                continue
            except Exception as exc:  # e.g. RecursionError from deeply nested JSON: still one record
                outcome.dead_letters.append(DeadLetter(message, "decode", type(exc).__name__, _one_line(exc)))
                continue
            unknown = [name for name in feedback.labels if name not in known]
            if unknown:
                detail = f"unknown labels {unknown}; the label set in force is {sorted(known)}"
                outcome.dead_letters.append(DeadLetter(message, "validate", "unknown_label", detail))
                continue
            problem = storable_time(feedback.decided_at)
            if problem is not None:
                outcome.dead_letters.append(
                    DeadLetter(message, "validate", "decided_at_out_of_range", problem)
                )
                continue
            valid.append((message, feedback))
        return valid

    def _images(self, urls: Sequence[str]) -> dict[str, _Image]:
        """Each distinct URL once: a blob already stored from it, or one fetch for the whole batch."""
        images: dict[str, _Image] = {}
        to_fetch: list[str] = []
        for url in dict.fromkeys(urls):
            try:
                sha = self._store.blob_for_url(url)
            except Exception as exc:  # e.g. a lone surrogate sqlite cannot encode: that url is unusable
                if is_outage(exc):
                    raise
                images[url] = _Image("failed", reason=f"unusable url: {_one_line(exc, 200)}")
                continue
            if sha is not None:
                images[url] = _Image("ok", sha)
            else:
                to_fetch.append(url)
        if not to_fetch:
            return images
        try:
            fetched = self._fetch_many(to_fetch)
        except Exception as exc:  # the contract says it never raises; if it does, no image, not a crash
            log.warning(
                "image fetch of %d url(s) raised %s; treated as failed", len(to_fetch), _one_line(exc)
            )
            fetched = {}
        for url in to_fetch:
            result = fetched.get(url)
            if result is None or result.status != "ok" or result.data is None:
                status: Literal["failed", "blocked"] = (
                    "blocked" if result is not None and result.status == "blocked" else "failed"
                )
                images[url] = _Image(status, reason=(result.reason if result else None) or "no data")
                continue
            try:
                problem = self._check_image(result.data) if self._check_image else None
            except Exception as exc:  # a decoder bug on hostile bytes: the image is unusable, that is all
                problem = f"check raised {type(exc).__name__}"
            if problem is not None:
                images[url] = _Image("failed", reason=problem)
                continue
            images[url] = _Image("ok", self._store.put_blob(result.data))
        return images


class _NoContent(Exception):
    """Neither usable text nor a usable image: the feedback cannot become an example."""

    def __init__(self, error_type: str, detail: str) -> None:
        super().__init__(detail)
        self.error_type = error_type


def is_outage(exc: BaseException) -> bool:
    """Errors of the store itself (disk, database file), not of one record: dead-lettering cannot help.

    sqlite3's OperationalError (disk I/O, full, locked) and a corrupt database (DatabaseError proper)
    are the store's; IntegrityError, DataError, InterfaceError, a UnicodeEncodeError of a lone
    surrogate, an OverflowError of a datetime are the record's.
    """
    if isinstance(exc, OSError | MemoryError | sqlite3.OperationalError | sqlite3.InternalError):
        return True
    return type(exc) is sqlite3.DatabaseError


def _one_line(exc: BaseException, limit: int = 500) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit]


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
