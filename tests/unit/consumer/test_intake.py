"""The poll loop's intake with plain stubs (the fuzz suite's, tests/fuzz/test_post_intake.py): the
attacks of issue #8 as a table, each record with exactly one outcome and the stage going on after it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.fuzz.test_post_intake import _drain, _service

NEAR_LIMIT = 999_700
# overflows when converted to UTC
FAR_FUTURE_POST = json.dumps(
    {"post_id": "1", "text": "a", "created_at": "9999-12-31T23:59:59-05:00"}
).encode()


@pytest.mark.parametrize(
    ("raw", "outcome", "reason", "reference"),
    [
        (b"[" * 100_000, "dead", "too_deep", False),
        (b'{"post_id": "1", "text": "a", "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}", "dead", "too_deep",
         False),
        ((b'{"post_id": "1", "text": "' + b"x" * NEAR_LIMIT)[:NEAR_LIMIT], "dead", "not_json", True),
        (b"{" * 1_000_001, "dead", "oversized", True),
        (b'{"post_id": "1", "text": "\\ud800"}', "dead", "bad_unicode", False),
        (b'{"post_id": "1", "text": "a", "text": "b"}', "dead", "duplicate_key", False),
        (FAR_FUTURE_POST, "dead", "schema", False),
        (b'{"post_id": "1", "text": "fine"}', "prep", None, False),
        (b'{"post_id": "1", "image_url": "http://img.test/a.png"}', "fetch", None, False),
        (b'{"post_id": "1", "text": "t", "image_url": "ftp://img.test/a.png"}', "prep", None, False),
    ],
)  # fmt: skip
def test_each_record_has_one_outcome_and_the_next_one_is_still_taken(
    raw: bytes, outcome: str, reason: str | None, reference: bool
) -> None:
    service, outlet, sink, fetcher, prep = _service(cache_fails=True)
    records = [
        SimpleNamespace(topic="posts", partition=0, offset=0, key=b"k", value=raw, timestamp_s=None),
        SimpleNamespace(
            topic="posts", partition=0, offset=1, key=b"n", value=b'{"post_id": "n", "text": "next"}',
            timestamp_s=None,
        ),
    ]  # fmt: skip
    service._intake(records)
    dead = _drain(outlet.completions)
    inbox = _drain(prep.inbox)
    assert [job.where.offset for job in inbox if job.where.offset == 1] == [1]  # the next post goes on
    assert service.ledger.in_flight() == 2
    got = {"dead": [d.job.where.offset for d in dead], "prep": [j.where.offset for j in inbox]}
    got["fetch"] = [0] * len(fetcher.submitted)
    assert [kind for kind, offsets in got.items() if 0 in offsets] == [outcome]
    if outcome == "dead":
        [letter] = dead
        assert (letter.stage, letter.reason, letter.reference, letter.error) == (
            "decode",
            reason,
            reference,
            None,
        )
        assert sink.sent[0][0] == "posts-dlq"
