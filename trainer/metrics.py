"""Evaluation in numpy: the per-label table, the summary F1s, the binary hate view, the argmax view.

    >>> report = evaluate(labels, "NotHate", targets, scores, thresholds)
    >>> report["summary"]["macro_f1"], report["binary"]["roc_auc"]

Inputs are (N, L) arrays: `targets` in [0, 1] (soft; a label is true when its target >= 0.5, i.e. a
majority of annotators chose it), `scores` the model's sigmoid outputs. A label is predicted when its
score reaches its threshold. ROC-AUC and average precision follow scikit-learn's definitions (ties
get average ranks; AP is the step-wise sum over distinct thresholds), and are NaN when a label has no
positive or no negative example; NaN is written as null in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

POSITIVE = 0.5  # a soft target at or above this counts as a true label


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def prf(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float, int, int, int]:
    """Precision, recall, F1, tp, fp, fn of boolean vectors; 0.0 when undefined (zero_division=0)."""
    tp = int(np.sum(y_true & y_pred))
    fp = int(np.sum(~y_true & y_pred))
    fn = int(np.sum(y_true & ~y_pred))
    p, r = _div(tp, tp + fp), _div(tp, tp + fn)
    return p, r, _div(2 * tp, 2 * tp + fp + fn), tp, fp, fn


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties count one half."""
    y = np.asarray(y_true, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average rank (1-based) within each group of tied scores
    _, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Sum over distinct thresholds t (descending) of (R(t) - R(t_prev)) * P(t)."""
    y = np.asarray(y_true, dtype=bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, yt = np.asarray(scores)[order], y[order]
    last_of_tie = np.r_[np.diff(s) != 0, True]  # evaluate only after all tied scores are in
    tp = np.cumsum(yt)[last_of_tie]
    predicted = (np.arange(len(s)) + 1)[last_of_tie]
    precision, recall = tp / predicted, tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    pos, neg = y_true, ~y_true
    tpr = _div(np.sum(y_pred & pos), np.sum(pos))
    tnr = _div(np.sum(~y_pred & neg), np.sum(neg))
    present = int(pos.any()) + int(neg.any())
    return (tpr + tnr) / present if present else 0.0


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def evaluate(
    labels: Sequence[str],
    benign_label: str | None,
    targets: np.ndarray,
    scores: np.ndarray,
    thresholds: Mapping[str, float],
) -> dict[str, Any]:
    """The report: `per_label`, `summary` (flat floats, compared by promotion), `binary`, `single_label`."""
    targets, scores = np.asarray(targets, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    if targets.shape != scores.shape or targets.ndim != 2 or targets.shape[1] != len(labels):
        raise ValueError(
            f"targets {targets.shape} and scores {scores.shape} do not match {len(labels)} labels"
        )
    y_true = targets >= POSITIVE
    th = np.array([thresholds.get(name, 0.5) for name in labels])
    y_pred = scores >= th
    per_label: dict[str, dict[str, Any]] = {}
    f1s, supports = [], []
    tot_tp = tot_fp = tot_fn = 0
    for j, name in enumerate(labels):
        p, r, f, tp, fp, fn = prf(y_true[:, j], y_pred[:, j])
        tot_tp, tot_fp, tot_fn = tot_tp + tp, tot_fp + fp, tot_fn + fn
        support = int(y_true[:, j].sum())
        f1s.append(f)
        supports.append(support)
        per_label[name] = {
            "precision": _clean(p),
            "recall": _clean(r),
            "f1": _clean(f),
            "roc_auc": _clean(roc_auc(y_true[:, j], scores[:, j])),
            "average_precision": _clean(average_precision(y_true[:, j], scores[:, j])),
            "support": support,
            "threshold": round(float(th[j]), 6),
        }
    micro_p, micro_r = _div(tot_tp, tot_tp + tot_fp), _div(tot_tp, tot_tp + tot_fn)
    summary: dict[str, float] = {
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": _div(2 * tot_tp, 2 * tot_tp + tot_fp + tot_fn),
        "macro_f1": float(np.mean(f1s)),
        "weighted_f1": _div(float(np.dot(f1s, supports)), sum(supports)),
        "n_examples": float(len(targets)),
    }
    report: dict[str, Any] = {"labels": list(labels), "benign_label": benign_label, "per_label": per_label}
    binary = binary_view(labels, benign_label, y_true, scores, y_pred)
    if binary is not None:
        report["binary"] = binary
        summary |= {f"binary_{k}": v for k, v in binary.items() if isinstance(v, float) and not math.isnan(v)}
    if len(targets) and np.allclose(targets.sum(axis=1), 1.0, atol=1e-6):
        single = single_label_view(labels, targets, scores)
        report["single_label"] = single
        summary |= {"single_accuracy": single["accuracy"], "single_weighted_f1": single["weighted_f1"]}
    report["summary"] = {k: round(v, 6) for k, v in summary.items()}
    return report


def binary_view(
    labels: Sequence[str], benign: str | None, y_true: np.ndarray, scores: np.ndarray, y_pred: np.ndarray
) -> dict[str, Any] | None:
    """Hate vs not: true when any non-benign label is true; score = the highest non-benign score."""
    harmful = [j for j, name in enumerate(labels) if name != benign]
    if benign is None or not harmful:
        return None
    truth: np.ndarray = np.asarray(y_true[:, harmful].any(axis=1))
    flagged: np.ndarray = np.asarray(y_pred[:, harmful].any(axis=1))
    score = scores[:, harmful].max(axis=1)
    p, r, f, *_ = prf(truth, flagged)
    return {
        "precision": p,
        "recall": r,
        "f1": f,
        "roc_auc": roc_auc(truth, score),
        "average_precision": average_precision(truth, score),
        "balanced_accuracy": balanced_accuracy(truth, flagged),
        "support": int(truth.sum()),
    }


def single_label_view(labels: Sequence[str], targets: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """One class per example (argmax of the votes vs argmax of the scores): the figures papers report."""
    truth, pred = targets.argmax(axis=1), scores.argmax(axis=1)
    per_class: dict[str, dict[str, Any]] = {}
    f1s, supports = [], []
    for j, name in enumerate(labels):
        p, r, f, *_ = prf(truth == j, pred == j)
        support = int(np.sum(truth == j))
        f1s.append(f)
        supports.append(support)
        per_class[name] = {
            "precision": round(p, 6),
            "recall": round(r, 6),
            "f1": round(f, 6),
            "support": support,
        }
    return {
        "accuracy": float(np.mean(truth == pred)) if len(truth) else 0.0,
        "weighted_f1": _div(float(np.dot(f1s, supports)), sum(supports)),
        "macro_f1": float(np.mean(f1s)),
        "per_class": per_class,
    }


def format_report(report: dict[str, Any]) -> str:
    """A readable table: one row per label, then the summary rows."""
    lines = [
        f"{'label':<22}{'prec':>8}{'recall':>8}{'f1':>8}{'roc_auc':>9}{'avg_prec':>10}{'support':>9}{'thresh':>8}"
    ]

    def num(v: Any) -> str:
        return "     nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:8.3f}"

    for name, row in report["per_label"].items():
        lines.append(
            f"{name:<22}{num(row['precision'])}{num(row['recall'])}{num(row['f1'])} {num(row['roc_auc'])}"
            f"  {num(row['average_precision'])}{row['support']:>9}{num(row['threshold'])}"
        )
    s = report["summary"]
    lines.append("-" * len(lines[0]))
    lines.append(f"{'micro avg':<22}{num(s['micro_precision'])}{num(s['micro_recall'])}{num(s['micro_f1'])}")
    lines.append(f"{'macro avg':<22}{'':>16}{num(s['macro_f1'])}")
    lines.append(f"{'weighted avg':<22}{'':>16}{num(s['weighted_f1'])}")
    if "binary" in report:
        b = report["binary"]
        lines.append(
            f"{'binary (hate vs not)':<22}{num(b['precision'])}{num(b['recall'])}{num(b['f1'])} "
            f"{num(b['roc_auc'])}  {num(b['average_precision'])}{b['support']:>9}"
            f"   balanced_acc {b['balanced_accuracy']:.3f}"
        )
    if "single_label" in report:
        sl = report["single_label"]
        lines.append("")
        lines.append(
            f"single-label (argmax) view: accuracy {sl['accuracy']:.3f}  weighted F1 {sl['weighted_f1']:.3f}"
        )
        lines.append(f"{'class':<22}{'prec':>8}{'recall':>8}{'f1':>8}{'support':>9}")
        for name, row in sl["per_class"].items():
            lines.append(
                f"{name:<22}{num(row['precision'])}{num(row['recall'])}{num(row['f1'])}{row['support']:>9}"
            )
    lines.append(f"examples: {int(s['n_examples'])}")
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """NaN -> None, recursively, so the report is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
