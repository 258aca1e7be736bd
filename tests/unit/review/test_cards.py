"""The console's bounded join: either order, bounds, change cursor, ordering and filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events.schemas import LabelScore, Result
from review.cards import MAX_LABELS, CardStore, Decision
from tests.unit.review.helpers import post, result


def store(max_cards: int = 10, max_unjoined: int = 10) -> CardStore:
    return CardStore(max_cards=max_cards, max_unjoined=max_unjoined)


@pytest.mark.parametrize("post_first", [True, False])
def test_joins_in_either_order(post_first: bool) -> None:
    s = store()
    first, second = (s.add_post, s.add_result) if post_first else (s.add_result, s.add_post)
    half = post("p1", "hello") if post_first else result("p1", flagged=True)
    other = result("p1", flagged=True) if post_first else post("p1", "hello")
    assert first(half) is None  # type: ignore[arg-type]
    assert len(s) == 0 and s.pending() == ((1, 0) if post_first else (0, 1))
    card = second(other)  # type: ignore[arg-type]
    assert card is not None and card.post.text == "hello" and card.result.flagged
    assert len(s) == 1 and s.pending() == (0, 0)


def test_a_new_result_for_a_joined_post_replaces_the_old_one_and_counts_as_a_change() -> None:
    s = store()
    s.add_post(post("p1"))
    s.add_result(result("p1", version="v1"))
    seq = s.seq
    card = s.add_result(result("p1", version="v2"))
    assert card is not None and card.result.model_version == "v2" and len(s) == 1
    assert card.seq == seq + 1


def test_unjoined_halves_are_bounded_oldest_out() -> None:
    s = store(max_unjoined=3)
    for i in range(5):
        s.add_post(post(f"p{i}"))
        s.add_result(result(f"r{i}"))
    assert s.pending() == (3, 3)
    assert s.add_result(result("p0")) is None  # p0 was pushed out: its result now waits instead
    assert s.add_result(result("p4")) is not None


def test_joined_cards_are_bounded_least_recently_changed_out() -> None:
    s = store(max_cards=3)
    for i in range(3):
        s.add_post(post(f"p{i}"))
        s.add_result(result(f"p{i}"))
    s.add_result(result("p0", version="v2"))  # p0 changed last: p1 is now the oldest
    s.add_post(post("p3"))
    s.add_result(result("p3"))
    assert [s.get(f"p{i}") is not None for i in range(4)] == [True, False, True, True]


def test_changed_since_sends_flagged_first_caps_and_counts_what_it_left_out() -> None:
    s = store(max_cards=100)
    for i in range(10):
        s.add_post(post(f"p{i}"))
        s.add_result(result(f"p{i}", flagged=i % 3 == 0))
    sent, cursor, dropped = s.changed_since(0, limit=4)
    assert [c["post_id"] for c in sent] == ["p9", "p6", "p3", "p0"]
    assert (cursor, dropped) == (10, 6)
    assert s.changed_since(cursor, limit=4) == ([], 10, 0)
    s.decide("p5", Decision([], "alice", datetime(2026, 1, 1, tzinfo=UTC)))
    sent, cursor, dropped = s.changed_since(cursor, limit=4)
    assert [c["post_id"] for c in sent] == ["p5"] and sent[0]["decision"]["moderator_id"] == "alice"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["p3", "p0", "p2", "p4", "p1"]),  # p2 was decided last
        ({"flagged_only": True}, ["p3", "p0"]),
        ({"label": "Racist"}, ["p3", "p4"]),
        ({"undecided_only": True}, ["p3", "p0", "p4", "p1"]),
    ],
)
def test_snapshot_filters_and_order(filters: dict[str, object], expected: list[str]) -> None:
    s = store()
    for i in range(5):
        s.add_post(post(f"p{i}"))
        s.add_result(result(f"p{i}", flagged=i in (0, 3), top="Racist" if i in (3, 4) else "NotHate"))
    s.decide("p2", Decision(["NotHate"], "bob", datetime(2026, 1, 1, tzinfo=UTC)))
    assert [c["post_id"] for c in s.snapshot(limit=10, **filters)] == expected  # type: ignore[arg-type]


def test_snapshot_is_capped() -> None:
    s = store(max_cards=50)
    for i in range(20):
        s.add_post(post(f"p{i}"))
        s.add_result(result(f"p{i}"))
    assert len(s.snapshot(limit=7)) == 7


def test_an_implausibly_large_result_is_dropped() -> None:
    scores = {f"L{i}": 0.0 for i in range(MAX_LABELS + 1)}
    huge = Result(
        post_id="p1",
        labels=[LabelScore(label="L0", score=0.0)],
        scores=scores,
        flagged=False,
        model_version="v",
        image_status="absent",
    )
    s = store()
    s.add_post(post("p1"))
    assert s.add_result(huge) is None and len(s) == 0


def test_card_json_never_carries_the_image_url() -> None:
    s = store()
    s.add_post(post("p1", image_url="http://evil.example/x.png"))
    card = s.add_result(result("p1"))
    assert card is not None
    data = card.to_json()
    assert data["has_image"] is True and "evil.example" not in repr(data)


def test_a_replayed_post_or_result_is_not_a_change() -> None:
    s = store()
    first = result("p1")
    s.add_post(post("p1", "text"))
    s.add_result(first)
    seq = s.seq
    assert s.add_post(post("p1", "text")) is None
    assert s.add_result(first.model_copy()) is None
    assert s.seq == seq
    assert s.add_post(post("p1", "edited")) is not None and s.seq == seq + 1
