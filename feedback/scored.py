"""What was scored, per post_id: the feedback service's durable index of the results topic.

    >>> index = ScoredIndex.open(Path("data/trainer"))            # data_dir/scored.sqlite3
    >>> index.record_many([raw_result_bytes, ...], now=time.time())  # -> how many were usable
    >>> index.get("post-1")
    Scored(post_id='post-1', content_id='3f9c...', scores={...}, flagged=True, model_version='v1', ...)
    >>> index.prune(now=time.time(), max_posts=1_000_000, max_age_s=7 * 86400)

A feedback event is checked against this (feedback.verify): it must name a post_id that was scored and
carry the content that was scored. The index keeps the latest result read per post_id (a re-scored post,
e.g. after a consumer crash, replaces the earlier one) and is bounded twice: by age (results read longer
ago than `max_age_s` go) and by count (the oldest beyond `max_posts` go). A result on the topic is
anyone's bytes: one that does not decode is skipped and counted, never the end of a batch. A result
without `content_id` (an older consumer) is kept, and feedback on it is "unverifiable".
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from events.schemas import MAX_MESSAGE_BYTES, Result

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scored (
    post_id       TEXT PRIMARY KEY,
    content_id    TEXT,               -- NULL: an older consumer's result, unverifiable
    scores        TEXT NOT NULL,      -- JSON object label -> score
    flagged       INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    image_status  TEXT NOT NULL,
    seen_at       REAL NOT NULL       -- wall clock when the service read it: what the age bound uses
);
CREATE INDEX IF NOT EXISTS scored_seen_at ON scored (seen_at);
"""


@dataclass(frozen=True)
class Scored:
    post_id: str
    content_id: str | None
    scores: dict[str, float]
    flagged: bool
    model_version: str
    image_status: str


def parse_result(raw: bytes | None) -> Result | None:
    """A Result, or None for anything that is not one (logged by the caller as a count)."""
    if raw is None or len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        return Result.model_validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        return None


class ScoredIndex:
    """See the module docstring. One thread (the service loop) owns it."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    def open(cls, data_dir: Path) -> ScoredIndex:
        data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(data_dir / "scored.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        return cls(db)

    def close(self) -> None:
        self._db.close()

    def record_many(self, raws: Sequence[bytes | None], *, now: float) -> int:
        """Index every result that decodes, in one durable transaction; return how many did."""
        rows = []
        for raw in raws:
            result = parse_result(raw)
            if result is None:
                continue
            rows.append(
                (
                    result.post_id,
                    result.content_id,
                    json.dumps(result.scores),
                    int(result.flagged),
                    result.model_version,
                    result.image_status,
                    now,
                )
            )
        if len(rows) < len(raws):
            log.warning("skipped %d result message(s) that are not Results", len(raws) - len(rows))
        if rows:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO scored VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def get(self, post_id: str) -> Scored | None:
        row = self._db.execute(
            "SELECT post_id, content_id, scores, flagged, model_version, image_status FROM scored "
            "WHERE post_id = ?",
            (post_id,),
        ).fetchone()
        if row is None:
            return None
        post, content, scores, flagged, version, image_status = row
        return Scored(post, content, json.loads(scores), bool(flagged), version, image_status)

    def prune(self, *, now: float, max_posts: int, max_age_s: float) -> int:
        """Drop results older than `max_age_s`, then the oldest beyond `max_posts`; return how many."""
        before = len(self)
        self._db.execute("DELETE FROM scored WHERE seen_at < ?", (now - max_age_s,))
        excess = len(self) - max_posts
        if excess > 0:
            self._db.execute(
                "DELETE FROM scored WHERE post_id IN "
                "(SELECT post_id FROM scored ORDER BY seen_at, rowid LIMIT ?)",
                (excess,),
            )
        return before - len(self)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM scored").fetchone()[0])
