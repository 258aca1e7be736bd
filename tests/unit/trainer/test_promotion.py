from __future__ import annotations

import math

import pytest

from trainer.promotion import Decision, combine, decide, decide_on_eval_set


@pytest.mark.parametrize(
    ("candidate", "current", "same", "promote", "why"),
    [
        (0.70, None, True, True, "no current"),
        (0.70, 0.69, True, True, "> current"),
        (0.69, 0.69, True, False, "does not beat"),
        (0.60, 0.69, True, False, "does not beat"),
        (0.10, 0.90, False, False, "--allow-label-change"),
        (math.nan, 0.5, True, False, "NaN"),
    ],
)
def test_decision_table(candidate: float, current: float | None, same: bool, promote: bool, why: str) -> None:
    cur = None if current is None else {"macro_f1": current}
    d = decide({"macro_f1": candidate}, cur, "macro_f1", same_labels=same)
    assert d.promote is promote and why in d.reason


def test_min_gain_and_unknown_metric() -> None:
    assert not decide({"m": 0.705}, {"m": 0.70}, "m", min_gain=0.01).promote
    with pytest.raises(KeyError):
        decide({"m": 0.7}, None, "weighted_f1")


def test_a_label_change_needs_the_flag() -> None:
    refused = decide({"m": 0.9}, {"m": 0.1}, "m", same_labels=False)
    allowed = decide({"m": 0.1}, {"m": 0.9}, "m", same_labels=False, allow_label_change=True)
    assert not refused.promote and refused.decided_by == "labels"
    assert allowed.promote and allowed.decided_by == "labels"


def test_a_serving_model_without_comparable_figures_is_not_replaced_blindly() -> None:
    assert not decide({"m": 0.9}, {}, "m").promote


@pytest.mark.parametrize(
    ("candidate", "current", "n", "promote", "why"),
    [
        (0.80, 0.70, 200, True, "> current"),
        (0.705, 0.70, 200, False, "by more than 0.01"),  # within the minimum gain
        (0.60, 0.70, 200, False, "does not beat"),
        (0.90, 0.10, 99, False, "fewer than the 100"),  # too small a set decides nothing
        (0.90, None, 200, True, "nothing to compare"),
        (math.nan, 0.5, 200, False, "NaN"),
    ],
)
def test_eval_set_table(candidate: float, current: float | None, n: int, promote: bool, why: str) -> None:
    cur = None if current is None else {"m": current, "n_examples": n}
    d = decide_on_eval_set({"m": candidate, "n_examples": n}, cur, "m", min_gain=0.01, min_examples=100)
    assert d.promote is promote and why in d.reason and d.decided_by == "eval_set"


@pytest.mark.parametrize(
    ("held", "trusted", "promote", "by"),
    [
        (True, None, True, "held_out"),
        (True, True, True, "eval_set"),
        (True, False, False, "eval_set"),  # better on (possibly poisoned) feedback, worse on the trusted set
        (False, True, False, "held_out"),
        (False, False, False, "held_out"),
    ],
)
def test_both_gates_must_pass(held: bool, trusted: bool | None, promote: bool, by: str) -> None:
    eval_decision = None if trusted is None else Decision(trusted, "e", "eval_set")
    d = combine(Decision(held, "h", "held_out"), eval_decision)
    assert d.promote is promote and d.decided_by == by
