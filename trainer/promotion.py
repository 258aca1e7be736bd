"""Whether a candidate replaces the serving model: plain code over metric dicts.

    >>> decide({"macro_f1": 0.71}, {"macro_f1": 0.69}, "macro_f1", same_labels=True)
    Decision(promote=True, reason='macro_f1 0.7100 > current 0.6900', decided_by='held_out')

Two gates, both must pass:

- **held_out**: the candidate and the serving model on the SAME held-out feedback examples (the hash
  split keeps every post in one split across retrains). Promoted when strictly better by more than
  `min_gain`, or when nothing serves yet. This data comes from the feedback stream, which an attacker
  may have poisoned, so it is never the only judge when a trusted set exists:
- **eval_set** (`decide_on_eval_set`): the trusted evaluation set (settings.trainer.eval_set), never
  trained on. The candidate must beat the serving model on it by more than `eval_min_gain`, with at
  least `eval_min_examples` examples; a smaller set promotes nothing (fail closed).

Label sets are compared by name, never by order. A candidate with another label set is refused unless
the operator allowed a label change (`--allow-label-change`, settings.trainer.allow_label_change):
metrics over different labels do not compare, and a silent change of labels would change what every
consumer publishes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Gate = Literal["held_out", "eval_set", "labels", "none"]


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    decided_by: Gate = "held_out"


def decide(
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    metric: str,
    *,
    same_labels: bool = True,
    allow_label_change: bool = False,
    min_gain: float = 0.0,
) -> Decision:
    """The held-out gate (and the label-set rule). `current` None: nothing serves."""
    value = _value(candidate, metric)
    if math.isnan(value):
        return Decision(False, f"candidate {metric} is NaN")
    if current is None:
        return Decision(True, f"no current version; candidate {metric} {value:.4f}", "none")
    if not same_labels:
        if allow_label_change:
            return Decision(True, "the label set changes (allowed explicitly)", "labels")
        return Decision(
            False,
            "the candidate's label set differs from the current version's by name; "
            "a label-set change needs --allow-label-change (settings.trainer.allow_label_change)",
            "labels",
        )
    held = current.get(metric)
    if held is None or math.isnan(float(held)):
        return Decision(False, f"current version has no comparable {metric} on the held-out data")
    if value > float(held) + min_gain:
        return Decision(True, f"{metric} {value:.4f} > current {float(held):.4f}")
    return Decision(False, f"{metric} {value:.4f} does not beat current {float(held):.4f}")


def decide_on_eval_set(
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    metric: str,
    *,
    min_gain: float,
    min_examples: int,
) -> Decision:
    """The trusted-set gate. `current` None: nothing serves (or it cannot be scored on this label set)."""
    n = int(candidate.get("n_examples", 0))
    if n < min_examples:
        return Decision(
            False, f"eval set has {n} usable examples, fewer than the {min_examples} required", "eval_set"
        )
    value = _value(candidate, metric)
    if math.isnan(value):
        return Decision(False, f"candidate eval-set {metric} is NaN", "eval_set")
    if current is None:
        return Decision(
            True, f"eval set: candidate {metric} {value:.4f} (nothing to compare with)", "eval_set"
        )
    held = current.get(metric)
    if held is None or math.isnan(float(held)):
        return Decision(False, f"eval set: current version has no comparable {metric}", "eval_set")
    if value > float(held) + min_gain:
        return Decision(
            True, f"eval set: {metric} {value:.4f} > current {float(held):.4f} + {min_gain:g}", "eval_set"
        )
    return Decision(
        False,
        f"eval set: {metric} {value:.4f} does not beat current {float(held):.4f} by more than {min_gain:g}",
        "eval_set",
    )


def combine(held_out: Decision, eval_set: Decision | None) -> Decision:
    """Both gates must pass; the first that refuses decides (and the report says which)."""
    if not held_out.promote or eval_set is None:
        return held_out
    if not eval_set.promote:
        return eval_set
    return Decision(True, f"{held_out.reason}; {eval_set.reason}", "eval_set")


def _value(metrics: Mapping[str, float], metric: str) -> float:
    if metric not in metrics:
        raise KeyError(f"promotion metric {metric!r} is not among the candidate's metrics {sorted(metrics)}")
    return float(metrics[metric])
