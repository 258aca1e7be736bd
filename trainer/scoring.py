"""Scores of a published version on held-out examples, through the same `Predictor` the consumer uses.

>>> scores = score_version(Predictor.load(registry.path(current)), test_examples)   # (N, L)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from model.predictor import Predictor
from model.preprocess import PreparedPost
from trainer.dataset import Example
from trainer.metrics import evaluate, json_safe
from trainer.readers.files import MAX_IMAGE_BYTES, read_capped


def score_version(predictor: Predictor, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """(N, L) scores in the predictor's label order; an unreadable image scores the post text-only."""
    out = np.zeros((len(examples), len(predictor.labels)), dtype=np.float32)
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        posts = [_prepare(predictor, e) for e in chunk]
        for row, prediction in enumerate(predictor.predict_prepared(posts), start=start):
            out[row] = [prediction.scores[name] for name in predictor.labels]
    return out


def _prepare(predictor: Predictor, example: Example) -> PreparedPost:
    try:
        image = read_capped(example.image_path, MAX_IMAGE_BYTES) if example.image_path is not None else None
        return predictor.prepare(example.text, image)
    except Exception:  # DatasetFileError, ImageDecodeError and friends: the consumer scores text-only too
        if example.text:
            return predictor.prepare(example.text, None)
        raise


def evaluate_by_name(
    predictor: Predictor, labels: Sequence[str], examples: Sequence[Example]
) -> dict[str, Any] | None:
    """The predictor's report on labelled examples whose targets follow `labels`, matched by label NAME
    (a CSV may order its columns differently); None when the two label sets differ by name."""
    model_labels = tuple(predictor.labels)
    if set(model_labels) != set(labels) or len(model_labels) != len(labels) or not examples:
        return None
    order = [list(labels).index(name) for name in model_labels]  # data targets in the model's order
    targets = np.array([[e.targets[j] for j in order] for e in examples], dtype=np.float64)
    scores = score_version(predictor, examples)
    report = evaluate(model_labels, predictor.benign_label, targets, scores, dict(predictor.thresholds))
    return json_safe(report)
