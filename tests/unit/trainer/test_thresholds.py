from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from trainer.thresholds import DEFAULT_THRESHOLD, best_f1_threshold, choose_thresholds


def test_threshold_separates_a_separable_label() -> None:
    y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    s = np.array([0.1, 0.3, 0.7, 0.9, 0.2, 0.6])
    t, f1 = best_f1_threshold(y, s)
    assert 0.3 < t < 0.6
    assert f1 == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_threshold_is_the_best_cut_by_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(120) < 0.3
    s = np.round(np.clip(y * 0.3 + rng.random(120) * 0.7, 0, 1), 2)
    t, f1 = best_f1_threshold(y, s)
    brute = max(f1_score(y, s >= c, zero_division=0) for c in np.unique(s))
    assert f1 == pytest.approx(brute)
    assert f1_score(y, s >= t) == pytest.approx(brute)  # the stored threshold reproduces it


def test_label_without_positives_keeps_the_default() -> None:
    targets = np.array([[1.0, 0.0], [0.67, 0.33], [1.0, 0.0]])
    scores = np.array([[0.9, 0.2], [0.8, 0.4], [0.7, 0.1]])
    th = choose_thresholds(("a", "b"), targets, scores)
    assert th["b"] == DEFAULT_THRESHOLD
    assert th["a"] <= 0.7
