"""The micro-batcher, table-driven with a fake clock: no sleeps."""

from __future__ import annotations

import pytest

from consumer.batcher import BatchLimits, MicroBatcher


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


LIMITS = BatchLimits(max_size=4, max_wait_s=0.05, max_tokens=100, max_images=2)

# Steps: ("add", name, tokens, images) | ("tick", seconds) | ("due",) | ("flush",)
# expected: the batches closed, in order, across all steps.
CASES = [
    (
        "size closes",
        [("add", "a", 1, 0), ("add", "b", 1, 0), ("add", "c", 1, 0), ("add", "d", 1, 0)],
        [["a", "b", "c", "d"]],
    ),
    ("below size stays open", [("add", "a", 1, 0), ("add", "b", 1, 0)], []),
    ("wait closes", [("add", "a", 1, 0), ("tick", 0.05), ("due",)], [["a"]]),
    ("wait not yet over", [("add", "a", 1, 0), ("tick", 0.049), ("due",)], []),
    (
        "wait runs from the first item",
        [("add", "a", 1, 0), ("tick", 0.03), ("add", "b", 1, 0), ("tick", 0.02), ("due",)],
        [["a", "b"]],
    ),
    ("due on empty", [("tick", 1.0), ("due",)], []),
    (
        "token budget: padded length x posts",
        # 30 x 3 = 90 fits; a fourth post of 30 -> 120 > 100 closes the first three
        [("add", "a", 30, 0), ("add", "b", 10, 0), ("add", "c", 5, 0), ("add", "d", 30, 0)],
        [["a", "b", "c"]],
    ),
    (
        "a long text raises the padding of the whole batch",
        # 10 x 1 fine; then a 60-token post: 60 x 2 = 120 > 100
        [("add", "a", 10, 0), ("add", "b", 60, 0)],
        [["a"]],
    ),
    ("post over the budget alone still gets a batch", [("add", "a", 500, 0), ("add", "b", 1, 0)], [["a"]]),
    ("image budget", [("add", "a", 1, 1), ("add", "b", 1, 1), ("add", "c", 1, 1)], [["a", "b"]]),
    (
        "text-only posts ignore the image budget",
        [("add", "a", 1, 1), ("add", "b", 1, 1), ("add", "c", 1, 0)],
        [],
    ),
    ("flush", [("add", "a", 1, 0), ("flush",)], [["a"]]),
    ("flush on empty", [("flush",)], []),
    (
        "new batch gets a new wait",
        [("add", "a", 1, 0), ("tick", 0.06), ("due",), ("add", "b", 1, 0), ("tick", 0.01), ("due",)],
        [["a"]],
    ),
]


@pytest.mark.parametrize(("steps", "expected"), [(s, e) for _, s, e in CASES], ids=[n for n, _, _ in CASES])
def test_batches(steps: list[tuple], expected: list[list[str]]) -> None:
    clock = FakeClock()
    batcher: MicroBatcher[str] = MicroBatcher(LIMITS, clock=clock)
    closed: list[list[str]] = []
    for step in steps:
        if step[0] == "add":
            closed += batcher.add(step[1], tokens=step[2], images=step[3])
        elif step[0] == "tick":
            clock.now += step[1]
        elif step[0] == "due":
            closed += [b for b in [batcher.due()] if b]
        elif step[0] == "flush":
            closed += [b for b in [batcher.flush()] if b]
    assert closed == expected


def test_deadline_tracks_first_item() -> None:
    clock = FakeClock()
    batcher: MicroBatcher[str] = MicroBatcher(LIMITS, clock=clock)
    assert batcher.deadline() is None
    batcher.add("a", tokens=1, images=0)
    assert batcher.deadline() == pytest.approx(100.05)
    clock.now += 0.01
    batcher.add("b", tokens=1, images=0)
    assert batcher.deadline() == pytest.approx(100.05)
    assert len(batcher) == 2


def test_every_item_comes_out_exactly_once() -> None:
    clock = FakeClock()
    batcher: MicroBatcher[int] = MicroBatcher(LIMITS, clock=clock)
    out: list[int] = []
    for i in range(103):
        for batch in batcher.add(i, tokens=(i * 7) % 40, images=i % 2):
            assert 1 <= len(batch) <= LIMITS.max_size
            out += batch
        clock.now += 0.013
        out += batcher.due() or []
    out += batcher.flush() or []
    assert out == list(range(103))
