"""A decision's labels are checked against the model's and become exactly one Feedback event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from review.cards import CardStore
from review.decisions import decided_labels, to_feedback
from tests.unit.review.helpers import post, result


def card():  # type: ignore[no-untyped-def]
    s = CardStore(max_cards=5, max_unjoined=5)
    s.add_post(post("p1", "the text", "http://img.example/1.png"))
    joined = s.add_result(result("p1"))
    assert joined is not None
    return joined


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ([], []),
        (["Sexist", "Racist"], ["Racist", "Sexist"]),  # the model's order
        (["Racist", "Racist"], ["Racist"]),
        (["NotHate"], ["NotHate"]),
    ],
)
def test_decided_labels(requested: list[object], expected: list[str]) -> None:
    assert decided_labels(card(), requested) == expected


@pytest.mark.parametrize("requested", [["Nope"], [1], [None], [["Racist"]], ["Racist"] * 65])
def test_decided_labels_refuses(requested: list[object]) -> None:
    with pytest.raises(ValueError):
        decided_labels(card(), requested)


def test_to_feedback_carries_the_post_and_the_moderator() -> None:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    feedback = to_feedback(card(), ["Racist"], moderator_id="alice", now=now)
    assert feedback.model_dump() == {
        "post_id": "p1",
        "labels": ["Racist"],
        "text": "the text",
        "image_url": "http://img.example/1.png",
        "moderator_id": "alice",
        "decided_at": now,
    }
