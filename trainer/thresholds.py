"""Per-label decision thresholds, chosen on the validation split to maximise each label's F1.

    >>> choose_thresholds(("NotHate", "Racist"), val_targets, val_scores)
    {'NotHate': 0.41, 'Racist': 0.63}

The threshold sits halfway between the best cut's lowest accepted score and the next score below
it, so a score equal to one seen on validation falls on the same side. A label with no positive
example in the validation split keeps the default 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.metrics import POSITIVE

DEFAULT_THRESHOLD = 0.5


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(threshold, F1 at it) maximising F1 of `scores >= threshold`; ties go to the higher threshold."""
    y = np.asarray(y_true, dtype=bool)
    n_pos = int(y.sum())
    if n_pos == 0 or len(y) == 0:
        return DEFAULT_THRESHOLD, 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    s, yt = np.asarray(scores, dtype=np.float64)[order], y[order]
    last_of_tie = np.r_[np.diff(s) != 0, True]
    tp = np.cumsum(yt)[last_of_tie]
    predicted = (np.arange(len(s)) + 1)[last_of_tie]
    f1 = 2 * tp / (predicted + n_pos)  # 2TP / (2TP + FP + FN) = 2TP / (predicted + positives)
    best = int(np.argmax(f1))  # first maximum = highest threshold among equals
    cut = s[last_of_tie][best]
    below = s[last_of_tie][best + 1] if best + 1 < int(last_of_tie.sum()) else max(0.0, cut - 1e-3)
    return float((cut + below) / 2.0), float(f1[best])


def choose_thresholds(labels: Sequence[str], targets: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    targets, scores = np.asarray(targets), np.asarray(scores)
    out: dict[str, float] = {}
    for j, name in enumerate(labels):
        threshold, _ = best_f1_threshold(targets[:, j] >= POSITIVE, scores[:, j])
        out[name] = round(threshold, 6)
    return out
