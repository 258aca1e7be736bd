"""Feedback ingestion: a batch of Kafka messages in, stored examples and dead letters out.

    >>> ingestor = FeedbackIngestor(store, fetch_many=fetcher_adapter, labels=lambda: DEFAULT_LABELS)
    >>> outcome = ingestor.ingest(messages)          # every message ends stored, ignored or dead-lettered
    >>> if send_dead_letters(sink, dlq_topic, outcome.dead_letters, sleep=stop.wait):   # all acknowledged
    ...     source.commit(commit_positions(messages))

Per message, in order:

    decode (events.schemas.decode_feedback)      invalid, or ANY error -> dead letter, stage "decode"
    moderator_id present (when required)?        missing          -> dead letter, stage "validate"
    labels in the label set in force?            unknown name     -> dead letter, stage "validate"
    decided_at storable (UTC, microseconds)?     out of range     -> dead letter, stage "validate"
    decided_at clamped to the message's broker timestamp (no future-dated decision pins a label)
    image_url: reuse a blob already fetched from that URL, else fetch it ONCE (the whole batch at once)
        fetched and decodable                    -> stored as a blob, image_status "ok"
        failed / blocked / undecodable           -> text-only, image_status says why
    content checked against what was scored (feedback.verify; when a scored index is given)
        no result read yet for the post_id       -> held (the caller keeps it and offers it again)
        content_mismatch / unverifiable          -> dead letter, stage "verify", type = the verdict
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
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from events.schemas import Feedback, InvalidEvent, decode_feedback
from feedback.scored import Scored
from feedback.store import FeedbackRecord, FeedbackStore, PutOutcome, storable_time
from feedback.verify import check

log = logging.getLogger(__name__)


class Message(Protocol):
    """The part of confluent_kafka.Message ingestion reads; tests pass a plain stub."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...  # (type, ms since the epoch); type 0 = not available


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
    stage: Literal["decode", "validate", "verify", "fetch", "image", "store"]
    error_type: str
    detail: str


@dataclass
class BatchOutcome:
    stored: Counter[PutOutcome] = field(default_factory=Counter)
    image_status: Counter[str] = field(default_factory=Counter)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    held: list[tuple[Message, str]] = field(default_factory=list)  # (message, post_id) not scored yet
    judged: list[Judged] = field(default_factory=list)  # verified and stored: a moderator judged a result


@dataclass(frozen=True)
class Judged:
    """A verified decision next to the result it judges (for live precision and recall)."""

    post_id: str
    labels: tuple[str, ...]
    scored: Scored


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
        benign: Callable[[], str | None] = lambda: None,
        scored: Callable[[str], Scored | None] | None = None,
        require_moderator: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        """`scored`: the scored index's lookup; None turns the content check off (a trusted source)."""
        self._store = store
        self._fetch_many = fetch_many
        self._labels = labels
        self._check_image = check_image
        self._benign = benign
        self._scored = scored
        self._require_moderator = require_moderator
        self._now = now

    def ingest(self, messages: Sequence[Message]) -> BatchOutcome:
        outcome = BatchOutcome()
        valid = self._validate(messages, outcome)
        images = self._images([fb.image_url for _, fb in valid if fb.image_url])
        pending: list[tuple[Message, FeedbackRecord]] = []
        judged: dict[int, Judged] = {}
        for message, fb in valid:
            try:
                image = self._image(fb, images)
                if self._scored is not None:
                    scored = self._scored(fb.post_id)
                    verdict = check(fb.text, image_sha256=image.sha256, scored=scored)
                    if verdict.verdict == "not_scored":
                        outcome.held.append((message, fb.post_id))
                        continue
                    if verdict.verdict != "ok" or scored is None:
                        outcome.dead_letters.append(
                            DeadLetter(message, "verify", verdict.verdict, verdict.detail)
                        )
                        continue
                    if verdict.text_only:  # scored without the image: train on what was scored
                        image = _Image("failed", reason=f"scored text-only ({scored.image_status})")
                    judged[id(message)] = Judged(fb.post_id, tuple(fb.labels), scored)
                record = self._record(fb, image)
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
        failed = {id(letter.message) for letter in outcome.dead_letters}
        outcome.judged = [judged[id(m)] for m, _ in pending if id(m) in judged and id(m) not in failed]
        return outcome

    @staticmethod
    def _image(fb: Feedback, images: dict[str, _Image]) -> _Image:
        if not fb.image_url:
            return _Image("absent")
        return images.get(fb.image_url, _Image("failed", reason="not fetched"))

    def _record(self, fb: Feedback, image: _Image) -> FeedbackRecord:
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
            outcome.stored.update(self._store.put_many([record for _, record in pending], self._benign()))
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
                outcome.stored.update(self._store.put_many([record], self._benign()))
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
            if self._require_moderator and not (feedback.moderator_id and feedback.moderator_id.strip()):
                detail = "moderator_id is required (MODSTREAM_FEEDBACK__REQUIRE_MODERATOR)"
                outcome.dead_letters.append(DeadLetter(message, "validate", "missing_moderator", detail))
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
            clamped = self._clamp(feedback.decided_at, message)
            valid.append((message, feedback.model_copy(update={"decided_at": clamped})))
        return valid

    def _clamp(self, decided_at: datetime, message: Message) -> datetime:
        """No later than the broker's timestamp of the message (or now, when it has none): a decision
        dated in the future would otherwise win over every correction until that date."""
        try:
            kind, ms = message.timestamp()
        except Exception:  # a stub or a client without timestamps
            kind, ms = 0, 0
        limit = datetime.fromtimestamp(ms / 1000 if kind and ms > 0 else self._now(), tz=UTC)
        aware = decided_at if decided_at.tzinfo is not None else decided_at.replace(tzinfo=UTC)
        return min(aware, limit)

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
