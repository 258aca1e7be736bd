"""Disagreement between moderators and the per-moderator cap of a retrain, as tables."""

from __future__ import annotations

import pytest

from feedback.moderators import Decision, cap_limit, cap_per_moderator, label_key, resolve


def d(moderator: str, labels: list[str], at: int) -> Decision:
    return Decision(moderator, tuple(labels), at)


@pytest.mark.parametrize(
    ("decisions", "winner_labels", "winner_moderator"),
    [
        # majority of distinct moderators, whoever wrote last
        ([d("a", ["Racist"], 1), d("b", ["Racist"], 2), d("m", [], 9)], ("Racist",), "b"),
        # a tie: the side with the latest decision
        ([d("a", ["Racist"], 1), d("m", [], 9)], (), "m"),
        ([d("m", [], 1), d("a", ["Racist"], 9)], ("Racist",), "a"),
        # one moderator counts once, with their latest decision
        (
            [d("m", [], 1), d("m", [], 2), d("m", [], 3), d("a", ["Sexist"], 2), d("b", ["Sexist"], 1)],
            ("Sexist",),
            "a",
        ),
        ([d("a", ["Racist"], 1), d("a", ["Sexist"], 5)], ("Sexist",), "a"),
        # benign spelled two ways is one side
        ([d("a", [], 1), d("b", ["NotHate"], 2), d("c", ["Racist"], 9)], (), "b"),
        # label order does not split a side
        (
            [d("a", ["Racist", "Sexist"], 1), d("b", ["Sexist", "Racist"], 2), d("c", ["Racist"], 9)],
            ("Racist", "Sexist"),
            "b",
        ),
        # one decision
        ([d("a", ["Religion"], 1)], ("Religion",), "a"),
    ],
)
def test_resolve(decisions: list[Decision], winner_labels: tuple[str, ...], winner_moderator: str) -> None:
    winner = resolve(decisions, "NotHate")
    assert label_key(winner.labels, "NotHate") == winner_labels
    assert winner.moderator_id == winner_moderator


def test_resolve_needs_a_decision() -> None:
    with pytest.raises(ValueError):
        resolve([], "NotHate")


@pytest.mark.parametrize(
    ("counts", "share", "limit"),
    [
        ([301, 30, 30, 30, 30], 0.25, 40),  # 40 <= 0.25 * (40 + 120); 41 > 0.25 * 161
        ([10, 10, 10, 10], 0.25, 10),  # an even spread is not capped
        ([10, 10, 10, 10, 10], 0.25, 10),
        ([301], 0.25, 0),  # alone, a moderator trains nothing
        ([301], 1.0, 301),  # share 1: no cap
        ([5, 1], 0.5, 1),  # 1 <= 0.5 * 2; 2 > 0.5 * 3
        ([], 0.25, 0),
    ],
)
def test_cap_limit(counts: list[int], share: float, limit: int) -> None:
    assert cap_limit(counts, share) == limit
    taken = [min(c, limit) for c in counts]
    if share < 1 and sum(taken):
        assert max(taken) <= share * sum(taken)  # the promise the cap keeps


def test_cap_keeps_the_oldest_and_defers_the_rest() -> None:
    new = [(i, "m") for i in range(301)] + [(1000 + i, f"h{i % 4}") for i in range(120)]
    selected, deferred = cap_per_moderator(new, 0.25)
    assert [k for k in selected if k < 1000] == list(range(40))
    assert deferred == list(range(40, 301))
    assert len(selected) == 160 and len(selected) + len(deferred) == len(new)
