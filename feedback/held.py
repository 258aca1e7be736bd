"""Feedback that arrived before its result: held durably, offered again once the post is scored.

    >>> held = HeldFeedback.open(Path("data/trainer"), max_count=10_000)   # data_dir/held.sqlite3
    >>> overflow = held.hold(outcome.held, now=time.time())   # beyond max_count: dead letter not_scored
    >>> retry = held.due(index.get)                           # their post_id is scored now: ingest again
    >>> expired = held.expired(now=time.time(), max_age_s=300)  # waited too long: dead letter not_scored
    >>> held.release(retry + expired)                         # once stored / dead-lettered (acknowledged)

A decision can overtake its result: the feedback and results topics are read by one consumer, but
nothing orders two topics. So a decision on a post_id not scored yet is neither rejected nor trusted:
its message (key, value, broker timestamp, source position) is kept in SQLite, so the offset can be
committed and a restart loses nothing. Bounded in count (the newest beyond `max_count` are refused at
once) and in time (`expired`). A held message is a `feedback.ingest.Message`, so ingestion and the
dead letters read it exactly like one from Kafka, with its original position in the headers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from feedback.ingest import Message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    topic      TEXT NOT NULL,
    partition  INTEGER NOT NULL,
    "offset"   INTEGER NOT NULL,
    key        BLOB,
    value      BLOB,
    ts_type    INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    post_id    TEXT NOT NULL,
    held_at    REAL NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS held_post ON held (post_id);
CREATE INDEX IF NOT EXISTS held_at ON held (held_at);
"""


@dataclass(frozen=True)
class HeldMessage:
    """A held feedback message, readable like a confluent_kafka.Message."""

    source_topic: str
    source_partition: int
    source_offset: int
    raw_key: bytes | None
    raw_value: bytes | None
    ts: tuple[int, int]
    post_id: str

    def value(self) -> bytes | None:
        return self.raw_value

    def key(self) -> bytes | None:
        return self.raw_key

    def topic(self) -> str | None:
        return self.source_topic

    def partition(self) -> int | None:
        return self.source_partition

    def offset(self) -> int | None:
        return self.source_offset

    def timestamp(self) -> tuple[int, int]:
        return self.ts


class HeldFeedback:
    """See the module docstring. One thread (the service loop) owns it."""

    def __init__(self, connection: sqlite3.Connection, max_count: int) -> None:
        self._db = connection
        self._max = max_count

    @classmethod
    def open(cls, data_dir: Path, *, max_count: int) -> HeldFeedback:
        data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(data_dir / "held.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        return cls(db, max_count)

    def close(self) -> None:
        self._db.close()

    def hold(self, items: Sequence[tuple[Message, str]], *, now: float) -> list[Message]:
        """Keep each (message, post_id) durably; return those refused because the hold is full."""
        refused: list[Message] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            count = len(self)
            for message, post_id in items:
                topic, partition, offset = (
                    message.topic() or "",
                    message.partition() or 0,
                    message.offset() or 0,
                )
                known = self._db.execute(
                    'SELECT 1 FROM held WHERE topic = ? AND partition = ? AND "offset" = ?',
                    (topic, partition, offset),
                ).fetchone()
                if known is not None:  # a redelivery of a message already held
                    continue
                if count >= self._max:
                    refused.append(message)
                    continue
                kind, ms = _timestamp(message)
                self._db.execute(
                    "INSERT INTO held VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (topic, partition, offset, message.key(), message.value(), kind, ms, post_id, now),
                )
                count += 1
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return refused

    def due(self, scored: Callable[[str], object | None]) -> list[HeldMessage]:
        """Held messages whose post_id has a result now, oldest first."""
        posts = [row[0] for row in self._db.execute("SELECT DISTINCT post_id FROM held")]
        ready = [post_id for post_id in posts if scored(post_id) is not None]
        out: list[HeldMessage] = []
        for post_id in ready:
            out.extend(self._select("WHERE post_id = ?", (post_id,)))
        return sorted(out, key=lambda m: (m.source_topic, m.source_partition, m.source_offset))

    def expired(self, *, now: float, max_age_s: float) -> list[HeldMessage]:
        return self._select("WHERE held_at < ?", (now - max_age_s,))

    def release(self, messages: Sequence[HeldMessage]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                'DELETE FROM held WHERE topic = ? AND partition = ? AND "offset" = ?',
                [(m.source_topic, m.source_partition, m.source_offset) for m in messages],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM held").fetchone()[0])

    def _select(self, where: str, args: tuple[object, ...]) -> list[HeldMessage]:
        rows = self._db.execute(
            f'SELECT topic, partition, "offset", key, value, ts_type, ts_ms, post_id FROM held {where} '
            'ORDER BY held_at, topic, partition, "offset"',
            args,
        )
        return [HeldMessage(t, p, o, k, v, (kind, ms), post) for t, p, o, k, v, kind, ms, post in rows]


def _timestamp(message: Message) -> tuple[int, int]:
    try:
        kind, ms = message.timestamp()
        return int(kind), int(ms)
    except Exception:
        return 0, 0
