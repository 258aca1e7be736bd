"""One judging of a trained candidate against one serving version: both gates, and what the report says.

    >>> judgement = judge_candidate(current, candidate.metrics, dataset.labels, test_examples,
    ...                             registry=registry, settings=settings.trainer, trusted=eval_set,
    ...                             eval_candidate=candidate_eval_report, device="cpu")
    >>> judgement.decision.promote, judgement.section["decided_by"]

The serving version is scored through the same Predictor the consumer uses, on the candidate's held-out
test examples and on the trusted eval set, with targets matched to its labels by name (trainer.scoring).
The decisions themselves are trainer.promotion's; this module gathers their inputs and writes the
report's `promotion` section:

    {"metric", "current_version", "promote", "decided_by": "held_out" | "eval_set" | "labels" | "none",
     "reason", "sets": {"held_out": {candidate, current, n_examples, passed, reason},
                        "eval_set": {path, candidate, current, n_examples, min_gain, min_examples, ...}}}
"""

from __future__ import annotations

from typing import Any

from events.settings import TrainerSettings
from model.predictor import Predictor
from model.registry import ModelRegistry
from trainer.dataset import Example
from trainer.eval_set import EvalSet
from trainer.gate import Judgement
from trainer.metrics import json_safe
from trainer.promotion import Decision, combine, decide, decide_on_eval_set
from trainer.scoring import evaluate_by_name


def judge_candidate(
    current: str | None,
    candidate_metrics: dict[str, float],
    labels: tuple[str, ...],
    test: list[Example],
    *,
    registry: ModelRegistry,
    settings: TrainerSettings,
    trusted: EvalSet | None,
    eval_candidate: dict[str, Any] | None,
    device: str,
) -> Judgement:
    """The candidate (its held-out metrics, and its eval-set report when a set is configured) against
    `current`, which is scored here through the consumer's Predictor on the same examples."""
    metric = settings.promote_metric
    held_current: dict[str, Any] | None = None
    eval_current: dict[str, Any] | None = None
    same_labels = True
    if current is not None:
        predictor = Predictor.load(registry.path(current), device=device)
        same_labels = set(predictor.labels) == set(labels) and len(predictor.labels) == len(labels)
        if same_labels:
            held_current = evaluate_by_name(predictor, labels, test)
        if trusted is not None:
            eval_current = evaluate_by_name(predictor, trusted.dataset.labels, trusted.dataset.examples)
    held_summary = dict(held_current["summary"]) if held_current else ({} if current else None)
    held = decide(
        candidate_metrics,
        held_summary,
        metric,
        same_labels=same_labels,
        allow_label_change=settings.allow_label_change,
    )
    eval_decision = None
    if trusted is not None:
        if eval_candidate is None:
            eval_decision = Decision(
                False,
                f"the trusted eval set's labels {list(trusted.dataset.labels)} are not the candidate's "
                f"{list(labels)}",
                "eval_set",
            )
        else:
            eval_decision = decide_on_eval_set(
                eval_candidate["summary"],
                dict(eval_current["summary"]) if eval_current else None,
                metric,
                min_gain=settings.eval_min_gain,
                min_examples=settings.eval_min_examples,
            )
    decision = combine(held, eval_decision)
    sets: dict[str, Any] = {
        "held_out": {
            "candidate": candidate_metrics.get(metric),
            "current": (held_current or {}).get("summary", {}).get(metric),
            "n_examples": len(test),
            "passed": held.promote,
            "reason": held.reason,
        }
    }
    flat: dict[str, float] = {}
    if held_current is not None:
        flat[f"held_out_current_{metric}"] = float(held_current["summary"][metric])
    if trusted is not None and eval_decision is not None:
        cand_eval = (eval_candidate or {}).get("summary", {})
        cur_eval = (eval_current or {}).get("summary", {})
        sets["eval_set"] = {
            "path": str(trusted.path),
            "candidate": cand_eval.get(metric),
            "current": cur_eval.get(metric),
            "n_examples": len(trusted.dataset.examples),
            "min_gain": settings.eval_min_gain,
            "min_examples": settings.eval_min_examples,
            "passed": eval_decision.promote,
            "reason": eval_decision.reason,
        }
        for name, value in (
            ("eval_set_", cand_eval.get(metric)),
            ("eval_set_current_", cur_eval.get(metric)),
        ):
            if value is not None:
                flat[f"{name}{metric}"] = float(value)
        flat["eval_set_n_examples"] = float(len(trusted.dataset.examples))
    section = {
        "metric": metric,
        "current_version": current,
        "promote": decision.promote,
        "decided_by": decision.decided_by,
        "reason": decision.reason,
        "sets": json_safe(sets),
    }
    reports = {
        "current": held_current,
        "eval_set_candidate": eval_candidate,
        "eval_set_current": eval_current,
    }
    return Judgement(current, decision, section, reports, flat)
