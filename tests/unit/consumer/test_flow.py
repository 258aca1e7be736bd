"""Table tests of the poll loop's rules: backpressure hysteresis and the delivery-retry rule."""

from __future__ import annotations

import pytest

from consumer.errors import MAX_RETRIES, Action
from consumer.flow import Backpressure, Move, retry_delivery

# (in_flight, stopping, assignment_changed) -> expected move, paused afterwards; max 100, resume below 50
STEPS: list[tuple[str, list[tuple[int, bool, bool, Move, bool]]]] = [
    ("below the bound keeps", [(99, False, False, Move.KEEP, False)]),
    ("at the bound with no grace pauses", [(100, False, False, Move.PAUSE, True)]),
    (
        "above the bound pauses once",
        [(101, False, False, Move.PAUSE, True), (150, False, False, Move.KEEP, True)],
    ),
    (
        "between the marks keeps paused, below the low mark resumes",
        [
            (101, False, False, Move.PAUSE, True),
            (50, False, False, Move.KEEP, True),
            (49, False, False, Move.RESUME, False),
            (60, False, False, Move.KEEP, False),
        ],
    ),
    (
        "a new assignment while paused pauses again",
        [
            (101, False, False, Move.PAUSE, True),
            (90, False, True, Move.KEEP, True),
            (120, False, True, Move.PAUSE, True),
        ],
    ),
    (
        "stopping pauses whatever is in flight, and never resumes",
        [
            (0, True, False, Move.PAUSE, True),
            (0, True, False, Move.KEEP, True),
            (0, True, True, Move.PAUSE, True),
        ],
    ),
    ("idle and unpaused stays so", [(0, False, False, Move.KEEP, False), (0, False, True, Move.KEEP, False)]),
]


@pytest.mark.parametrize(("name", "steps"), STEPS, ids=[name for name, _ in STEPS])
def test_backpressure_hysteresis(name: str, steps: list[tuple[int, bool, bool, Move, bool]]) -> None:
    bp = Backpressure(max_in_flight=100, resume_below=0.5)
    for in_flight, stopping, changed, move, paused in steps:
        assert bp.decide(in_flight=in_flight, stopping=stopping, assignment_changed=changed) is move
        assert bp.paused is paused


# (now, in_flight, images_over) -> expected move, paused afterwards, room; max 100, resume below 50,
# paused after 1 s held at the bound
GRACE_STEPS: list[tuple[str, list[tuple[float, int, bool, Move, bool, int]]]] = [
    (
        "at the bound intake is held (no room), paused only once held for the grace",
        [
            (0.0, 100, False, Move.KEEP, False, 0),
            (0.9, 100, False, Move.KEEP, False, 0),
            (1.0, 100, False, Move.PAUSE, True, 0),
            (1.5, 40, False, Move.RESUME, False, 60),
        ],
    ),
    (
        "room again resets the grace",
        [
            (0.0, 100, False, Move.KEEP, False, 0),
            (0.8, 99, False, Move.KEEP, False, 1),
            (1.2, 100, False, Move.KEEP, False, 0),
            (2.1, 100, False, Move.KEEP, False, 0),
            (2.2, 100, False, Move.PAUSE, True, 0),
        ],
    ),
    (
        "above the bound (posts whose image arrived rejoined the count) holds too",
        [(0.0, 130, False, Move.KEEP, False, 0), (0.5, 99, False, Move.KEEP, False, 1)],
    ),
    (
        "a full image budget holds (ImageBudget.room is 0), then pauses",
        [(0.0, 3, True, Move.KEEP, False, 97), (1.0, 3, True, Move.PAUSE, True, 0)],
    ),
]


@pytest.mark.parametrize(("name", "steps"), GRACE_STEPS, ids=[name for name, _ in GRACE_STEPS])
def test_backpressure_holds_before_it_pauses(
    name: str, steps: list[tuple[float, int, bool, Move, bool, int]]
) -> None:
    bp = Backpressure(max_in_flight=100, resume_below=0.5, pause_after_s=1.0)
    for now, in_flight, images_over, move, paused, room in steps:
        got = bp.decide(
            in_flight=in_flight, stopping=False, assignment_changed=False, images_over=images_over, now=now
        )
        assert (got, bp.paused, bp.room(in_flight)) == (move, paused, room)


# (in_flight, images_over, images_under) -> expected move, paused afterwards; max 100, resume below 50
IMAGE_STEPS: list[tuple[str, list[tuple[int, bool, bool, Move, bool]]]] = [
    (
        "a full image budget pauses with few text posts in flight",
        [(3, True, False, Move.PAUSE, True), (3, False, False, Move.KEEP, True)],
    ),
    (
        "resuming needs both marks: text below its low mark and images below theirs",
        [
            (101, True, False, Move.PAUSE, True),
            (10, False, False, Move.KEEP, True),
            (10, False, True, Move.RESUME, False),
        ],
    ),
    (
        "images under their mark do not resume while text is above its own",
        [(101, False, True, Move.PAUSE, True), (70, False, True, Move.KEEP, True)],
    ),
]


@pytest.mark.parametrize(("name", "steps"), IMAGE_STEPS, ids=[name for name, _ in IMAGE_STEPS])
def test_backpressure_with_the_image_budget(
    name: str, steps: list[tuple[int, bool, bool, Move, bool]]
) -> None:
    bp = Backpressure(max_in_flight=100, resume_below=0.5)
    for in_flight, over, under, move, paused in steps:
        got = bp.decide(
            in_flight=in_flight,
            stopping=False,
            assignment_changed=False,
            images_over=over,
            images_under=under,
        )
        assert got is move
        assert bp.paused is paused


@pytest.mark.parametrize(("max_in_flight", "resume_below"), [(0, 0.5), (10, 0.0), (10, 1.0), (-1, 0.5)])
def test_backpressure_refuses_nonsense_bounds(max_in_flight: int, resume_below: float) -> None:
    with pytest.raises(ValueError):
        Backpressure(max_in_flight, resume_below)


@pytest.mark.parametrize(
    ("action", "attempts", "retry"),
    [
        (Action.RETRY, 1, True),
        (Action.RETRY, MAX_RETRIES, True),
        (Action.RETRY, MAX_RETRIES + 1, False),
        (Action.RETRY, MAX_RETRIES + 10, False),
        (Action.STOP, 1, False),
        (Action.DEAD_LETTER, 1, False),
        (Action.DEGRADE, 1, False),
    ],
)
def test_delivery_retry_rule(action: Action, attempts: int, retry: bool) -> None:
    assert retry_delivery(action, attempts) is retry


def test_holds_are_counted_once_per_wait() -> None:
    bp = Backpressure(max_in_flight=10, resume_below=0.5, pause_after_s=1.0)
    for now, in_flight in [(0.0, 10), (0.1, 10), (0.2, 9), (0.3, 12), (0.4, 11), (0.5, 3)]:
        bp.decide(in_flight=in_flight, stopping=False, assignment_changed=False, now=now)
    assert bp.holds == 2 and not bp.paused
