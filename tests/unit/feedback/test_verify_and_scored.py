"""The scored index (a real SQLite file in a temp dir) and the content check, as tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from events.content import content_id, image_digest
from feedback.scored import Scored, ScoredIndex
from feedback.verify import check

IMG = image_digest(b"the image bytes")
OTHER = image_digest(b"other bytes")


def result(post_id: str, cid: str | None, *, version: str = "v1", image_status: str = "ok") -> bytes:
    body = {
        "post_id": post_id,
        "labels": [{"label": "Racist", "score": 0.9}],
        "scores": {"NotHate": 0.1, "Racist": 0.9},
        "flagged": True,
        "model_version": version,
        "image_status": image_status,
    }
    if cid is not None:
        body["content_id"] = cid
    return json.dumps(body).encode()


def scored(cid: str | None, image_status: str = "ok") -> Scored:
    return Scored("p", cid, {"Racist": 0.9}, True, "v1", image_status)


@pytest.mark.parametrize(
    ("text", "image", "scored_as", "verdict", "text_only"),
    [
        ("hello", IMG, scored(content_id("hello", IMG)), "ok", False),
        ("hello", None, scored(content_id("hello", None), "absent"), "ok", False),
        # scored text-only (image failed there): the feedback's image is not part of what was scored
        ("hello", IMG, scored(content_id("hello", None), "failed"), "ok", True),
        ("hello", IMG, scored(content_id("hello", None), "ok"), "content_mismatch", False),
        ("other text", IMG, scored(content_id("hello", IMG)), "content_mismatch", False),
        ("hello", OTHER, scored(content_id("hello", IMG)), "content_mismatch", False),
        ("hello", None, scored(content_id("hello", IMG)), "content_mismatch", False),  # image not fetched
        ("hello", IMG, None, "not_scored", False),
        ("hello", IMG, scored(None), "unverifiable", False),
    ],
)
def test_check(text: str, image: str | None, scored_as: Scored | None, verdict: str, text_only: bool) -> None:
    outcome = check(text, image_sha256=image, scored=scored_as)
    assert (outcome.verdict, outcome.text_only) == (verdict, text_only)


def test_index_keeps_the_latest_result_and_skips_garbage(tmp_path: Path) -> None:
    index = ScoredIndex.open(tmp_path)
    cid = content_id("t", None)
    raws: list[bytes | None] = [result("a", cid), b"{not json", None, b"[" * 100_000, result("b", None)]
    assert index.record_many(raws, now=100.0) == 2
    assert index.record_many([result("a", cid, version="v2")], now=101.0) == 1
    a = index.get("a")
    assert a is not None and (a.content_id, a.model_version, a.flagged) == (cid, "v2", True)
    b = index.get("b")
    assert b is not None and b.content_id is None
    assert index.get("nope") is None
    index.close()
    assert ScoredIndex.open(tmp_path).get("a") == a  # durable


def test_index_is_bounded_by_age_and_count(tmp_path: Path) -> None:
    index = ScoredIndex.open(tmp_path)
    for i in range(10):
        index.record_many([result(f"p{i}", None)], now=float(i))
    assert index.prune(now=10.0, max_posts=100, max_age_s=5.0) == 5  # p0..p4 are older than 5 s
    assert index.prune(now=10.0, max_posts=3, max_age_s=5.0) == 2  # then the oldest beyond 3
    assert [index.get(f"p{i}") is not None for i in range(10)] == [False] * 7 + [True] * 3
