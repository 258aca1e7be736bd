"""Supervision as tables: which stage died, which post is stuck, and that the first fault sticks."""

from __future__ import annotations

import pytest

from consumer.faults import FaultInjector, InjectedFault
from consumer.supervisor import InFlightAges, Supervisor

TP0, TP1 = ("posts", 0), ("posts", 1)


@pytest.mark.parametrize(
    ("alive", "taken", "now", "fault"),
    [
        ({"prep": True, "model": True}, [], 1000.0, None),
        ({"prep": False, "model": True}, [], 0.0, "stage thread died: prep"),
        ({"prep": False, "model": False}, [], 0.0, "stage thread died: prep, model"),
        ({"prep": True}, [(TP0, 5, 0.0)], 300.0, None),  # at the bound is not past it
        ({"prep": True}, [(TP0, 5, 0.0)], 300.5, "post posts[0]@5 in flight for 300s (bound 300s)"),
        (
            {"prep": True},
            [(TP1, 9, 50.0), (TP0, 5, 60.0)],
            355.0,
            "post posts[1]@9 in flight for 305s (bound 300s)",
        ),
        ({"prep": False}, [(TP0, 5, 0.0)], 999.0, "stage thread died: prep"),  # a dead stage is named first
    ],
)
def test_supervisor_faults(
    alive: dict[str, bool], taken: list[tuple[tuple[str, int], int, float]], now: float, fault: str | None
) -> None:
    ages = InFlightAges()
    for tp, offset, at in taken:
        ages.take(tp, offset, at)
    stages = {name: (lambda ok=ok: ok) for name, ok in alive.items()}
    supervisor = Supervisor(stages, max_age_s=300.0, clock=lambda: now)
    assert supervisor.fault(ages.oldest()) == fault


def test_in_flight_ages_follow_takes_completions_and_revocations() -> None:
    ages = InFlightAges()
    ages.take(TP0, 1, at=1.0)
    ages.take(TP1, 1, at=2.0)
    ages.take(TP0, 2, at=3.0)
    assert ages.oldest() == ((TP0, 1), 1.0)
    ages.done(TP0, 1)
    assert ages.oldest() == ((TP1, 1), 2.0)
    ages.forget([TP1])
    assert ages.oldest() == ((TP0, 2), 3.0) and len(ages) == 1
    ages.done(TP0, 2)
    ages.done(TP0, 2)  # twice is harmless
    assert ages.oldest() is None


def test_a_fault_once_found_stays_even_if_the_cause_goes_away() -> None:
    now = [0.0]
    ages = InFlightAges()
    ages.take(TP0, 0, at=0.0)
    supervisor = Supervisor({"prep": lambda: True}, max_age_s=10.0, clock=lambda: now[0])
    assert supervisor.fault(ages.oldest()) is None
    now[0] = 11.0
    assert supervisor.fault(ages.oldest()) is not None
    ages.done(TP0, 0)
    assert supervisor.fault(ages.oldest()) is not None


def test_the_test_only_fault_injector_fires_once_at_its_count_and_only_for_its_stage() -> None:
    faults = FaultInjector()
    faults.tick("prep")  # unarmed: nothing
    faults.arm_for_tests("prep", after=3)
    faults.tick("model")
    faults.tick("prep")
    faults.tick("prep")
    with pytest.raises(InjectedFault):
        faults.tick("prep")
    faults.tick("prep")  # fired once


def test_the_fault_injector_reads_its_test_only_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_TEST_ONLY_KILL_STAGE", "model:2")
    faults = FaultInjector.from_env()
    faults.tick("model")
    with pytest.raises(InjectedFault):
        faults.tick("model")
    monkeypatch.delenv("MODSTREAM_TEST_ONLY_KILL_STAGE")
    FaultInjector.from_env().tick("model")  # unset: never fires
