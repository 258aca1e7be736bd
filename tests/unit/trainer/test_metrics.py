"""The numpy metrics agree with scikit-learn on random data (sklearn is a test-only dependency)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from trainer.metrics import average_precision, balanced_accuracy, evaluate, format_report, json_safe, roc_auc

LABELS = ("NotHate", "Racist", "Sexist", "Other")


def _random(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    votes = rng.integers(0, len(LABELS), size=(n, 3))
    targets = np.stack([(votes == j).mean(axis=1) for j in range(len(LABELS))], axis=1)
    scores = np.clip(targets * 0.6 + rng.random((n, len(LABELS))) * 0.5, 0, 1)
    if ties:
        scores = np.round(scores, 1)  # many tied scores
    return targets, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_ranking_metrics_match_sklearn(seed: int, ties: bool) -> None:
    targets, scores = _random(seed, ties=ties)
    for j in range(len(LABELS)):
        y = targets[:, j] >= 0.5
        assert roc_auc(y, scores[:, j]) == pytest.approx(sk.roc_auc_score(y, scores[:, j]), abs=1e-12)
        assert average_precision(y, scores[:, j]) == pytest.approx(
            sk.average_precision_score(y, scores[:, j]), abs=1e-12
        )


def test_undefined_ranking_metrics_are_nan() -> None:
    y = np.zeros(5, dtype=bool)
    assert math.isnan(roc_auc(y, np.arange(5.0)))
    assert math.isnan(average_precision(y, np.arange(5.0)))


@pytest.mark.parametrize("seed", [3, 4])
def test_report_matches_sklearn(seed: int) -> None:
    targets, scores = _random(seed)
    thresholds = {"NotHate": 0.5, "Racist": 0.4, "Sexist": 0.55, "Other": 0.6}
    report = evaluate(LABELS, "NotHate", targets, scores, thresholds)
    y_true = targets >= 0.5
    y_pred = scores >= np.array([thresholds[n] for n in LABELS])
    p, r, f, support = sk.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    for j, name in enumerate(LABELS):
        row = report["per_label"][name]
        assert row["precision"] == pytest.approx(p[j], abs=1e-6)
        assert row["recall"] == pytest.approx(r[j], abs=1e-6)
        assert row["f1"] == pytest.approx(f[j], abs=1e-6)
        assert row["support"] == support[j]
    s = report["summary"]
    assert s["micro_f1"] == pytest.approx(sk.f1_score(y_true, y_pred, average="micro"), abs=1e-6)
    assert s["macro_f1"] == pytest.approx(
        sk.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-6
    )
    assert s["weighted_f1"] == pytest.approx(
        sk.f1_score(y_true, y_pred, average="weighted", zero_division=0), abs=1e-6
    )
    # binary view: any non-benign label
    truth = y_true[:, 1:].any(axis=1)
    flagged = y_pred[:, 1:].any(axis=1)
    b = report["binary"]
    assert b["f1"] == pytest.approx(sk.f1_score(truth, flagged), abs=1e-9)
    assert b["roc_auc"] == pytest.approx(sk.roc_auc_score(truth, scores[:, 1:].max(axis=1)), abs=1e-9)
    assert b["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(truth, flagged), abs=1e-9)
    # single-label view: vote fractions sum to one
    single = report["single_label"]
    t1, p1 = targets.argmax(axis=1), scores.argmax(axis=1)
    assert single["accuracy"] == pytest.approx(sk.accuracy_score(t1, p1), abs=1e-9)
    assert single["weighted_f1"] == pytest.approx(sk.f1_score(t1, p1, average="weighted"), abs=1e-9)
    assert single["per_class"]["Racist"]["f1"] == pytest.approx(
        sk.f1_score(t1 == 1, p1 == 1, zero_division=0), abs=1e-6
    )


def test_balanced_accuracy_matches_sklearn() -> None:
    rng = np.random.default_rng(7)
    y, p = rng.random(200) < 0.2, rng.random(200) < 0.4
    assert balanced_accuracy(y, p) == pytest.approx(sk.balanced_accuracy_score(y, p))


def test_no_single_label_view_for_multi_hot_targets_and_table_renders() -> None:
    targets = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    scores = np.array([[0.1, 0.9, 0.8, 0.2], [0.9, 0.1, 0.2, 0.1], [0.3, 0.2, 0.1, 0.7]])
    report = evaluate(LABELS, "NotHate", targets, scores, {})
    assert "single_label" not in report
    assert report["summary"]["micro_f1"] == 1.0
    table = format_report(json_safe(report))
    assert "Racist" in table and "macro avg" in table and "binary" in table


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate(LABELS, "NotHate", np.zeros((3, 4)), np.zeros((3, 3)), {})
