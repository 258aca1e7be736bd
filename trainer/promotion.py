"""Whether a candidate replaces the serving model: plain code over two metric dicts.

    >>> decide({"macro_f1": 0.71}, {"macro_f1": 0.69}, "macro_f1", same_labels=True)
    Decision(promote=True, reason='macro_f1 0.7100 > current 0.6900')

Both dicts come from evaluating on the SAME held-out examples (the hash split keeps every post in
one split across retrains). The candidate is promoted when it is strictly better by more than
`min_gain`, when nothing serves yet, or when the serving model has a different label set (then the
two are not comparable, and the data's label set wins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    metric: str,
    *,
    same_labels: bool = True,
    min_gain: float = 0.0,
) -> Decision:
    if metric not in candidate:
        raise KeyError(
            f"promotion metric {metric!r} is not among the candidate's metrics {sorted(candidate)}"
        )
    value = float(candidate[metric])
    if math.isnan(value):
        return Decision(False, f"candidate {metric} is NaN")
    if current is None:
        return Decision(True, f"no current version; candidate {metric} {value:.4f}")
    if not same_labels:
        return Decision(True, "the current version has a different label set")
    held = current.get(metric)
    if held is None or math.isnan(float(held)):
        return Decision(True, f"current version has no {metric}; candidate {value:.4f}")
    if value > float(held) + min_gain:
        return Decision(True, f"{metric} {value:.4f} > current {float(held):.4f}")
    return Decision(False, f"{metric} {value:.4f} does not beat current {float(held):.4f}")
