"""Table tests of the adaptive in-flight bound (consumer/inflight_bound.py) with a fake clock."""

from __future__ import annotations

import pytest

from consumer.flow import Backpressure, Move
from consumer.inflight_bound import AdaptiveBound


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Each step: (seconds since the last step, posts completed in that time, posts in flight) -> bound after it.
# target 0.5 s, floor 64, ceiling 1024, windows of 1 s, smoothing 0.5.
STEPS: list[tuple[str, list[tuple[float, int, int, int]]]] = [
    ("nothing measured: the floor", [(0.5, 0, 10, 64)]),
    ("a window not yet over changes nothing", [(0.9, 900, 500, 64)]),
    ("one busy window of 1000 posts/s: 500", [(1.0, 1000, 500, 500)]),
    ("a fast consumer is capped at the ceiling", [(1.0, 10_000, 2000, 1024)]),
    ("a slow model is held at the floor", [(1.0, 20, 64, 64)]),
    (
        "smoothed: a window at half the rate moves the bound halfway",
        [(1.0, 1000, 500, 500), (1.0, 500, 400, 375)],
    ),
    ("an idle window keeps the estimate", [(1.0, 1000, 500, 500), (5.0, 0, 0, 500)]),
    (
        "a busy window with nothing finished (a stuck model) lowers it",
        [(1.0, 1000, 500, 500), (1.0, 0, 500, 250), (1.0, 0, 500, 125), (1.0, 0, 500, 64)],
    ),
    ("a long window is a rate over its whole length", [(4.0, 2000, 100, 250)]),
]


@pytest.mark.parametrize(("name", "steps"), STEPS, ids=[name for name, _ in STEPS])
def test_bound_follows_throughput_times_target(name: str, steps: list[tuple[float, int, int, int]]) -> None:
    clock = FakeClock()
    bound = AdaptiveBound(target_latency_s=0.5, low=64, high=1024, clock=clock)
    for dt, completed, in_flight, expected in steps:
        clock.now += dt
        bound.observe(completed=completed, in_flight=in_flight)
        assert bound.limit() == expected


def test_completions_add_up_within_a_window() -> None:
    clock = FakeClock()
    bound = AdaptiveBound(target_latency_s=1.0, low=1, high=10_000, clock=clock)
    for _ in range(8):  # eight turns of the poll loop, 0.125 s apart, 30 posts each
        clock.now += 0.125
        bound.observe(completed=30, in_flight=100)
    assert bound.rate == pytest.approx(240.0)
    assert bound.limit() == 240


@pytest.mark.parametrize(("target", "low", "high"), [(0.0, 1, 2), (1.0, 0, 2), (1.0, 3, 2), (-1.0, 1, 2)])
def test_nonsense_settings_are_refused(target: float, low: int, high: int) -> None:
    with pytest.raises(ValueError):
        AdaptiveBound(target_latency_s=target, low=low, high=high, clock=FakeClock())


def test_backpressure_pauses_at_the_moved_bound_and_keeps_its_resume_ratio() -> None:
    bp = Backpressure(max_in_flight=100, resume_below=0.5)
    bp.retarget(400)
    assert bp.decide(in_flight=300, stopping=False, assignment_changed=False) is Move.KEEP
    assert bp.decide(in_flight=401, stopping=False, assignment_changed=False) is Move.PAUSE
    bp.retarget(200)  # the bound falls while paused: resume below 100 now, not 200
    assert bp.decide(in_flight=150, stopping=False, assignment_changed=False) is Move.KEEP
    assert bp.decide(in_flight=99, stopping=False, assignment_changed=False) is Move.RESUME
