from __future__ import annotations

import math

import pytest

from trainer.promotion import decide


@pytest.mark.parametrize(
    ("candidate", "current", "same", "promote", "why"),
    [
        (0.70, None, True, True, "no current"),
        (0.70, 0.69, True, True, "> current"),
        (0.69, 0.69, True, False, "does not beat"),
        (0.60, 0.69, True, False, "does not beat"),
        (0.10, 0.90, False, True, "different label set"),
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
