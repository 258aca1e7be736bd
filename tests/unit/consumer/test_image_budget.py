"""The image budget: posts waiting for their image count apart from max_in_flight; full means pause."""

from __future__ import annotations

import pytest

from consumer.image_budget import ImageBudget


@pytest.mark.parametrize(
    ("limit", "waiting", "in_flight", "text", "over", "under_half"),
    [
        (10, 0, 0, 0, False, True),
        (10, 0, 7, 7, False, True),  # nothing waits for an image: all of it is text budget
        (10, 4, 7, 3, False, True),  # 4 of the 7 wait for images: only 3 count against max_in_flight
        (10, 5, 5, 0, False, False),  # resume only below 0.5 x limit
        (10, 9, 40, 31, False, False),
        (10, 10, 10, 0, True, False),  # full: the fetch stage is saturated, pause
        (10, 12, 12, 0, True, False),  # a poll batch can overshoot; still over
        (10, 3, 1, 0, False, True),  # a revoked partition's posts may still be fetching: never < 0
    ],
)
def test_budget_table(
    limit: int, waiting: int, in_flight: int, text: int, over: bool, under_half: bool
) -> None:
    budget = ImageBudget(limit)
    for _ in range(waiting):
        budget.started()
    assert budget.waiting == waiting
    assert budget.text_in_flight(in_flight) == text
    assert budget.over() is over
    assert budget.under(0.5) is under_half


def test_finished_returns_the_budget_and_keeps_the_peak() -> None:
    budget = ImageBudget(3)
    for _ in range(3):
        budget.started()
    assert budget.over()
    budget.finished()
    assert not budget.over() and budget.waiting == 2 and budget.peak == 3
    for _ in range(5):  # more finishes than starts (a bug elsewhere) never go negative
        budget.finished()
    assert budget.waiting == 0
