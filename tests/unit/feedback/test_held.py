"""Held feedback (a real SQLite file in a temp dir): durable, bounded in count and time, released."""

from __future__ import annotations

from pathlib import Path

from feedback.held import HeldFeedback
from tests.unit.feedback.test_ingest import Msg


def test_hold_due_expire_release(tmp_path: Path) -> None:
    held = HeldFeedback.open(tmp_path, max_count=3)
    a, b, c, d = (Msg(f"v{i}".encode(), off=i, ts_ms=1000 + i) for i in range(4))
    assert held.hold([(a, "p1"), (b, "p2")], now=10.0) == []
    assert held.hold([(a, "p1"), (c, "p3"), (d, "p4")], now=20.0) == [d]  # a: redelivery; d: full
    assert len(held) == 3
    due = held.due({"p2": object()}.get)
    assert [(m.post_id, m.offset(), m.value(), m.timestamp()) for m in due] == [("p2", 1, b"v1", (1, 1001))]
    held.release(due)
    held.close()
    held = HeldFeedback.open(tmp_path, max_count=3)  # durable
    assert [m.post_id for m in held.expired(now=25.0, max_age_s=10.0)] == ["p1"]
    assert [m.post_id for m in held.expired(now=31.0, max_age_s=10.0)] == ["p1", "p3"]
    assert held.due(lambda _post: None) == []
