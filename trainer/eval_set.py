"""The trusted evaluation set: promotion's second judge, never trained on.

    >>> trusted = load_eval_set(settings.trainer)            # None when MODSTREAM_TRAINER__EVAL_SET is unset
    >>> dataset, dropped = drop_overlap(dataset, trusted)    # before any split: no eval content trains
    >>> evaluate_by_name(predictor, trusted.dataset.labels, trusted.dataset.examples)

The held-out split of the feedback is as trustworthy as the feedback stream, which an attacker may
flood. The evaluation set is a file the operator curates (any format trainer/readers reads). Its
content must never be learnt, not even when the same posts also arrive as feedback (a poisoner who
knows the set would otherwise train on it), so a training example is dropped when its text (compared
case- and whitespace-insensitively) or its image bytes (sha256) match ANY evaluation example. That is
stricter than matching the pair: a post that shares either half with the set is left out.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from events.settings import TrainerSettings
from trainer.dataset import Dataset, Example
from trainer.image_vetting import vet_images
from trainer.readers import read_dataset
from trainer.readers.files import MAX_IMAGE_BYTES, read_capped

log = logging.getLogger(__name__)

_VET_SIZE = 224  # decode check only; each model resizes to its own size when it scores


@dataclass(frozen=True)
class EvalSet:
    path: Path
    dataset: Dataset
    texts: frozenset[str]  # normalised texts of the examples
    images: frozenset[str]  # sha256 hex of their image bytes


def load_eval_set(settings: TrainerSettings) -> EvalSet | None:
    """The configured set, or None when none is configured. Raises DatasetFileError (a ValueError) when
    the file cannot be read: a configured judge that is missing must stop promotion, not skip it."""
    if settings.eval_set is None:
        return None
    dataset, vetted = vet_images(read_dataset(settings.eval_set, settings.eval_set_format), size=_VET_SIZE)
    if vetted.skipped:
        log.warning("eval set: %d undecodable images skipped %s", vetted.skipped, vetted.reasons)
    texts = frozenset(t for t in (normalise(e.text) for e in dataset.examples) if t)
    images = frozenset(d for d in (_image_digest(e) for e in dataset.examples) if d)
    log.info(
        "trusted eval set %s: %d examples, labels %s",
        settings.eval_set,
        len(dataset.examples),
        dataset.labels,
    )
    return EvalSet(Path(settings.eval_set), dataset, texts, images)


def drop_overlap(dataset: Dataset, trusted: EvalSet | None) -> tuple[Dataset, int]:
    """`dataset` without the examples that share a text or an image with the eval set; and how many."""
    if trusted is None:
        return dataset, 0
    kept: list[Example] = []
    for example in dataset.examples:
        text = normalise(example.text)
        if text and text in trusted.texts:
            continue
        if trusted.images and example.image_path is not None and _image_digest(example) in trusted.images:
            continue
        kept.append(example)
    dropped = len(dataset.examples) - len(kept)
    if dropped:
        log.warning("left out %d training examples whose content is in the trusted eval set", dropped)
    return replace(dataset, examples=kept), dropped


def normalise(text: str | None) -> str:
    return " ".join(text.split()).casefold() if text else ""


def _image_digest(example: Example) -> str | None:
    if example.image_path is None:
        return None
    try:
        return hashlib.sha256(read_capped(example.image_path, MAX_IMAGE_BYTES)).hexdigest()
    except (OSError, ValueError):  # an unreadable image is left out by vet_images anyway
        return None
