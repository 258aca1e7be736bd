"""The offset ledger, table-driven: every case is a script of steps and the watermark expected after."""

from __future__ import annotations

import pytest

from consumer.ledger import OffsetLedger

P0 = ("posts", 0)
P1 = ("posts", 1)

# (name, steps, expected committable after the steps). A step is ("take"|"done", partition, offset).
CASES = [
    ("nothing taken", [], {}),
    ("taken, none done", [("take", P0, 5)], {P0: 5}),
    ("in order", [("take", P0, 5), ("take", P0, 6), ("done", P0, 5)], {P0: 6}),
    (
        "all done: one past the highest",
        [("take", P0, 5), ("take", P0, 6), ("done", P0, 5), ("done", P0, 6)],
        {P0: 7},
    ),
    (
        "out of order waits for the gap",
        [("take", P0, 10), ("take", P0, 11), ("take", P0, 12), ("done", P0, 12), ("done", P0, 11)],
        {P0: 10},
    ),
    (
        "gap filled jumps the watermark",
        [
            ("take", P0, 10),
            ("take", P0, 11),
            ("take", P0, 12),
            ("done", P0, 12),
            ("done", P0, 11),
            ("done", P0, 10),
        ],
        {P0: 13},
    ),
    (
        "offsets with holes (compaction, markers)",
        [("take", P0, 3), ("take", P0, 7), ("take", P0, 9), ("done", P0, 3), ("done", P0, 9)],
        {P0: 7},
    ),
    ("holes, all done", [("take", P0, 3), ("take", P0, 7), ("done", P0, 7), ("done", P0, 3)], {P0: 8}),
    (
        "partitions independent",
        [("take", P0, 0), ("take", P1, 100), ("take", P1, 101), ("done", P1, 100)],
        {P0: 0, P1: 101},
    ),
    ("done twice is ignored", [("take", P0, 0), ("take", P0, 1), ("done", P0, 0), ("done", P0, 0)], {P0: 1}),
    ("done of an unknown offset is ignored", [("take", P0, 4), ("done", P0, 3), ("done", P1, 4)], {P0: 4}),
]


@pytest.mark.parametrize(("steps", "expected"), [(s, e) for _, s, e in CASES], ids=[n for n, _, _ in CASES])
def test_watermark(
    steps: list[tuple[str, tuple[str, int], int]], expected: dict[tuple[str, int], int]
) -> None:
    ledger = OffsetLedger()
    for op, tp, offset in steps:
        if op == "take":
            ledger.take(tp, offset)
        else:
            ledger.done(tp, offset)
    assert ledger.committable() == expected


def test_in_flight_counts() -> None:
    ledger = OffsetLedger()
    for offset in range(5):
        ledger.take(P0, offset)
    ledger.take(P1, 0)
    ledger.done(P0, 3)
    assert (ledger.in_flight(P0), ledger.in_flight(P1), ledger.in_flight()) == (4, 1, 5)


def test_committable_only_when_moved() -> None:
    ledger = OffsetLedger()
    ledger.take(P0, 0)
    ledger.done(P0, 0)
    assert ledger.committable() == {P0: 1}
    ledger.mark_committed({P0: 1})
    assert ledger.committable() == {}
    ledger.take(P0, 1)
    assert ledger.committable() == {}  # watermark still 1
    ledger.done(P0, 1)
    assert ledger.committable() == {P0: 2}


def test_offsets_must_increase() -> None:
    ledger = OffsetLedger()
    ledger.take(P0, 5)
    with pytest.raises(ValueError):
        ledger.take(P0, 5)


@pytest.mark.parametrize(
    ("done", "expected_commit"),
    [
        ([], 10),  # drained nothing: commit nothing past the first unfinished
        ([10], 11),
        ([11, 12], 10),  # never past unfinished work
        ([10, 11, 12], 13),
    ],
)
def test_revoke_commits_watermark_and_forgets(done: list[int], expected_commit: int) -> None:
    ledger = OffsetLedger()
    for offset in (10, 11, 12):
        ledger.take(P0, offset)
    for offset in done:
        ledger.done(P0, offset)
    assert ledger.revoke(P0) == expected_commit
    assert ledger.partitions() == []
    assert ledger.done(P0, 10) is False  # late completion of abandoned work is ignored
    assert ledger.committable() == {}


def test_revoke_after_commit_returns_none() -> None:
    ledger = OffsetLedger()
    ledger.take(P0, 0)
    ledger.done(P0, 0)
    ledger.mark_committed({P0: 1})
    assert ledger.revoke(P0) is None


def test_lost_partition_is_dropped_without_commit() -> None:
    ledger = OffsetLedger()
    ledger.take(P0, 0)
    ledger.take(P1, 0)
    ledger.done(P0, 0)
    ledger.lose(P0)
    assert ledger.committable() == {P1: 0}
    assert ledger.in_flight() == 1


def test_delivery_failure_holds_the_watermark() -> None:
    # A failed delivery is not `done`; the watermark cannot pass it however much finishes behind it.
    ledger = OffsetLedger()
    for offset in range(100):
        ledger.take(P0, offset)
    for offset in range(100):
        if offset != 42:
            ledger.done(P0, offset)
    assert ledger.committable() == {P0: 42}
    ledger.done(P0, 42)  # the retried publish was acknowledged
    assert ledger.committable() == {P0: 100}


def test_reassigned_partition_starts_fresh() -> None:
    ledger = OffsetLedger()
    ledger.take(P0, 50)
    ledger.revoke(P0)
    ledger.take(P0, 20)  # the new assignment starts at the committed offset, below the old highest
    ledger.done(P0, 20)
    assert ledger.committable() == {P0: 21}
