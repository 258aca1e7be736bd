"""The durable dataset store of moderator feedback: one SQLite file plus content-addressed image blobs.

    data_dir/
      feedback.sqlite3            examples (one row per post_id) + training state (WAL, synchronous=FULL)
      blobs/ab/ab12...ef          image bytes, named by their sha256; written tmp + fsync + os.replace

    >>> store = FeedbackStore.open(Path("data/trainer"), now=time.time())
    >>> sha = store.put_blob(png_bytes)                 # idempotent; the same bytes are stored once
    >>> store.put_many([record])                        # -> ["inserted"]; one transaction, fsync'd
    >>> store.count_new_since(store.training_state().last_trained_seq)

Repeated decisions for one post: every moderator's latest `decided_at` is kept (table `decisions`), and
the post's example takes the label set that `feedback.moderators.resolve` picks among them (majority of
distinct moderators, a tie to the latest decision), so whoever writes last does not simply win. An older
decision of the same moderator arriving later, or the same decision delivered twice (a restart re-reads
uncommitted offsets), changes nothing. Every change of an example takes the next ingestion sequence
number, so "new since the last training" is `seq > last_seq`; a retrain that defers examples (the
moderator cap) gives them new numbers when it finishes, so they stay new for the next one.

The training state (last trained sequence number, a training started but not finished, a model-updates
event promised but not yet acknowledged) lives in the same database, so it is exactly as durable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from feedback.moderators import ANONYMOUS, Decision, resolve
from model import durable

PutOutcome = Literal["inserted", "updated", "unchanged", "older"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS examples (
    post_id       TEXT PRIMARY KEY,
    text          TEXT,
    labels        TEXT NOT NULL,      -- JSON list of label names; [] = benign
    image_url     TEXT,
    image_sha256  TEXT,               -- set when image_status = 'ok'
    image_status  TEXT NOT NULL,      -- ok | absent | failed | blocked
    image_reason  TEXT,
    decided_at_us INTEGER NOT NULL,   -- microseconds since the epoch, UTC: what "latest" compares
    decided_at    TEXT NOT NULL,
    moderator_id  TEXT,
    seq           INTEGER NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS examples_image_url ON examples (image_url);
CREATE TABLE IF NOT EXISTS decisions (
    post_id       TEXT NOT NULL,
    moderator_id  TEXT NOT NULL,      -- '' for decisions without one
    labels        TEXT NOT NULL,
    decided_at_us INTEGER NOT NULL,
    PRIMARY KEY (post_id, moderator_id)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class FeedbackRecord:
    """One moderator decision, ready to store (its image already fetched, or its failure recorded)."""

    post_id: str
    labels: tuple[str, ...]
    text: str | None
    image_url: str | None
    image_sha256: str | None
    image_status: Literal["ok", "absent", "failed", "blocked"]
    decided_at: datetime
    image_reason: str | None = None
    moderator_id: str | None = None


@dataclass(frozen=True)
class StoredExample:
    record: FeedbackRecord
    seq: int


@dataclass(frozen=True)
class TrainingRun:
    """A training that was started; it stays recorded until it finishes, so a restart resumes it."""

    snapshot_seq: int  # the run trains on every example with seq <= snapshot_seq
    labels: tuple[str, ...]
    benign_label: str | None
    started_at: float  # wall clock, seconds since the epoch
    attempts: int  # 1 on the first start, +1 on every resume after a crash
    deferred: tuple[str, ...] = ()  # post_ids over the moderator cap: new again once the run finishes


@dataclass(frozen=True)
class TrainingState:
    last_trained_seq: int  # examples with seq above this are new
    last_training_at: float  # wall clock of the last finished (or failed) training, or the store's birth
    last_failed: bool  # the last training raised; the trigger backs off
    running: TrainingRun | None
    pending_update: dict[str, Any] | None  # a ModelUpdate (JSON) promised but not yet acknowledged


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _micros(moment: datetime) -> int:
    delta = _utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def storable_time(moment: datetime) -> str | None:
    """None when `moment` can be stored (as UTC and as microseconds), else why not.

    A valid ISO timestamp can still overflow: "9999-12-31T23:59:59-05:00" is past the last UTC
    datetime Python has, so `astimezone` raises OverflowError.
    """
    try:
        _micros(moment)
        _utc(moment).isoformat()
    except (OverflowError, ValueError) as exc:
        return f"decided_at {moment.isoformat()} cannot be stored as UTC: {exc}"
    return None


class FeedbackStore:
    """See the module docstring. Not thread-safe: one thread (the service loop) owns it."""

    def __init__(self, data_dir: Path, connection: sqlite3.Connection) -> None:
        self.data_dir = data_dir
        self.blob_dir = data_dir / "blobs"
        self._db = connection

    @classmethod
    def open(cls, data_dir: Path, *, now: float) -> FeedbackStore:
        """Open (creating if needed) the store; `now` (wall clock) dates a new store's birth."""
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "blobs").mkdir(exist_ok=True)
        db = sqlite3.connect(data_dir / "feedback.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        store = cls(data_dir, db)
        with store._transaction():
            db.execute("INSERT OR IGNORE INTO state VALUES ('last_training_at', ?)", (json.dumps(now),))
        return store

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- blobs -------------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256

    def put_blob(self, data: bytes) -> str:
        """Store `data` under its sha256 (durably: tmp file, fsync, rename, fsync dir); return the hash."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if path.exists():  # a rename only ever publishes a complete file
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        durable.write_bytes(path, data)
        return sha

    def blob_for_url(self, url: str) -> str | None:
        """The sha256 of an image already fetched from `url` (for any post), if its blob is on disk."""
        rows = self._db.execute(
            "SELECT DISTINCT image_sha256 FROM examples WHERE image_url = ? AND image_sha256 IS NOT NULL",
            (url,),
        ).fetchall()
        for (sha,) in rows:
            if self.blob_path(sha).exists():
                return str(sha)
        return None

    # -- examples ----------------------------------------------------------------------------------
    def put_many(
        self, records: Sequence[FeedbackRecord], benign_label: str | None = None
    ) -> list[PutOutcome]:
        """Store a batch in one durable transaction; one outcome per record, in order.

        "older" / "unchanged": this moderator already decided later / the same instant on this post.
        "inserted" / "updated": the post's example was created / changed (labels, winner or content)."""
        outcomes: list[PutOutcome] = []
        with self._transaction() as db:
            next_seq = self._state(db, "next_seq", 1)
            for record in records:
                outcome = self._put(db, record, benign_label, next_seq)
                if outcome in ("inserted", "updated"):
                    next_seq += 1
                outcomes.append(outcome)
            self._set_state(db, "next_seq", next_seq)
        return outcomes

    def _put(
        self, db: sqlite3.Connection, record: FeedbackRecord, benign_label: str | None, seq: int
    ) -> PutOutcome:
        moderator = record.moderator_id or ANONYMOUS
        decided_us = _micros(record.decided_at)
        existing = db.execute("SELECT * FROM examples WHERE post_id = ?", (record.post_id,)).fetchone()
        if (
            existing is not None
            and db.execute("SELECT 1 FROM decisions WHERE post_id = ?", (record.post_id,)).fetchone() is None
        ):  # stored before decisions were kept: its row is its one decision
            db.execute(
                "INSERT INTO decisions VALUES (?, ?, ?, ?)",
                (record.post_id, existing[9] or ANONYMOUS, existing[2], existing[7]),
            )
        mine = db.execute(
            "SELECT decided_at_us FROM decisions WHERE post_id = ? AND moderator_id = ?",
            (record.post_id, moderator),
        ).fetchone()
        if mine is not None and decided_us < mine[0]:
            return "older"
        if mine is not None and decided_us == mine[0]:
            return "unchanged"  # a redelivery; on a tie the first stored wins
        db.execute(
            "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?)",
            (record.post_id, moderator, json.dumps(list(record.labels)), decided_us),
        )
        rows = db.execute(
            "SELECT moderator_id, labels, decided_at_us FROM decisions WHERE post_id = ?", (record.post_id,)
        ).fetchall()
        winner = resolve([Decision(m, tuple(json.loads(lb)), us) for m, lb, us in rows], benign_label)
        won_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=winner.decided_at_us)
        row = (
            record.post_id,
            record.text,
            json.dumps(list(winner.labels)),
            record.image_url,
            record.image_sha256,
            record.image_status,
            record.image_reason,
            winner.decided_at_us,
            won_at.isoformat(),
            winner.moderator_id or None,
        )
        if existing is not None and tuple(existing[:10]) == row:
            return "unchanged"  # e.g. a vote that did not change the outcome
        db.execute("INSERT OR REPLACE INTO examples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*row, seq))
        return "inserted" if existing is None else "updated"

    def decisions(self, post_id: str) -> list[Decision]:
        rows = self._db.execute(
            "SELECT moderator_id, labels, decided_at_us FROM decisions WHERE post_id = ? "
            "ORDER BY decided_at_us",
            (post_id,),
        )
        return [Decision(m, tuple(json.loads(lb)), us) for m, lb, us in rows]

    def get(self, post_id: str) -> StoredExample | None:
        row = self._db.execute("SELECT * FROM examples WHERE post_id = ?", (post_id,)).fetchone()
        return None if row is None else _example(row)

    def examples(self, *, max_seq: int | None = None) -> list[StoredExample]:
        """Every stored example (with seq <= max_seq when given), in ingestion order."""
        limit = max_seq if max_seq is not None else self.latest_seq()
        rows = self._db.execute("SELECT * FROM examples WHERE seq <= ? ORDER BY seq", (limit,))
        return [_example(row) for row in rows]

    def latest_seq(self) -> int:
        return int(self._state(self._db, "next_seq", 1)) - 1

    def new_since(self, seq: int, *, max_seq: int | None = None) -> list[tuple[str, str]]:
        """(post_id, moderator_id or '') of the examples with last_seq < seq <= max_seq, in seq order."""
        limit = max_seq if max_seq is not None else self.latest_seq()
        rows = self._db.execute(
            "SELECT post_id, moderator_id FROM examples WHERE seq > ? AND seq <= ? ORDER BY seq", (seq, limit)
        )
        return [(post_id, moderator or ANONYMOUS) for post_id, moderator in rows]

    def count_new_since(self, seq: int) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM examples WHERE seq > ?", (seq,)).fetchone()[0])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM examples").fetchone()[0])

    # -- training state ----------------------------------------------------------------------------
    def training_state(self) -> TrainingState:
        running = self._state(self._db, "running", None)
        return TrainingState(
            last_trained_seq=int(self._state(self._db, "last_trained_seq", 0)),
            last_training_at=float(self._state(self._db, "last_training_at", 0.0)),
            last_failed=bool(self._state(self._db, "last_failed", False)),
            running=None
            if running is None
            else TrainingRun(
                snapshot_seq=running["snapshot_seq"],
                labels=tuple(running["labels"]),
                benign_label=running["benign_label"],
                started_at=running["started_at"],
                attempts=running["attempts"],
                deferred=tuple(running.get("deferred", ())),
            ),
            pending_update=self._state(self._db, "pending_update", None),
        )

    def training_started(self, run: TrainingRun) -> None:
        with self._transaction() as db:
            self._set_state(db, "running", dataclasses.asdict(run))

    def training_finished(self, run: TrainingRun, *, at: float, update: dict[str, Any] | None) -> None:
        """The run is done: its examples are no longer new, but for those it deferred, which take new
        sequence numbers (new for the next run); `update` is the event still to publish."""
        with self._transaction() as db:
            next_seq = self._state(db, "next_seq", 1)
            for post_id in run.deferred:
                moved = db.execute(
                    "UPDATE examples SET seq = ? WHERE post_id = ? AND seq <= ?",
                    (next_seq, post_id, run.snapshot_seq),
                ).rowcount
                next_seq += moved
            self._set_state(db, "next_seq", next_seq)
            self._set_state(db, "last_trained_seq", run.snapshot_seq)
            self._set_state(db, "last_training_at", at)
            self._set_state(db, "last_failed", False)
            db.execute("DELETE FROM state WHERE key = 'running'")
            if update is not None:
                self._set_state(db, "pending_update", update)

    def training_failed(self, *, at: float) -> None:
        """The run raised (or crashed too often): back off; its examples stay new for the next try."""
        with self._transaction() as db:
            self._set_state(db, "last_training_at", at)
            self._set_state(db, "last_failed", True)
            db.execute("DELETE FROM state WHERE key = 'running'")

    def update_published(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM state WHERE key = 'pending_update'")

    @staticmethod
    def _state(db: sqlite3.Connection, key: str, default: Any) -> Any:
        row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    @staticmethod
    def _set_state(db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, json.dumps(value)))


def _example(row: tuple[Any, ...]) -> StoredExample:
    post_id, text, labels, url, sha, status, reason, _us, decided_at, moderator, seq = row
    record = FeedbackRecord(
        post_id=post_id,
        labels=tuple(json.loads(labels)),
        text=text,
        image_url=url,
        image_sha256=sha,
        image_status=status,
        decided_at=datetime.fromisoformat(decided_at),
        image_reason=reason,
        moderator_id=moderator,
    )
    return StoredExample(record=record, seq=int(seq))
