"""Stored feedback -> `trainer.dataset.Dataset`, and the frozen snapshot a (resumed) training reads.

    >>> ds = to_dataset(store.examples(max_seq=seq), labels=DEFAULT_LABELS, benign_label="NotHate",
    ...                 blob_path=store.blob_path)
    >>> save_snapshot(run_dir / "dataset.json", ds)       # durable before training starts
    >>> load_snapshot(run_dir / "dataset.json") == ds     # what a restart resumes with
    True

A moderator's decision is a hard target: 1.0 for each label named, 0.0 for the rest; no label, or just
the benign one, is benign. The split is left to `assign_split` (stable by post_id). An example whose labels
are not in the label set (the serving model changed label sets since it was stored) is left out.

Why a snapshot file: the store keeps only the latest decision per post, so the examples a training
started with can change under it. The training resumes only on the same data (its fingerprint), so the
service freezes the data set once, next to the run's work_dir, and a restart reads it back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from feedback.store import StoredExample
from model import durable
from model.labels import multi_hot
from trainer.dataset import Dataset, Example

log = logging.getLogger(__name__)


def to_dataset(
    examples: Sequence[StoredExample],
    *,
    labels: Sequence[str],
    benign_label: str | None,
    blob_path: Callable[[str], Path],
) -> Dataset:
    out: list[Example] = []
    skipped = 0
    for stored in examples:
        record = stored.record
        try:
            targets = multi_hot(record.labels, labels, benign_label)
        except ValueError:
            skipped += 1
            continue
        image = (
            blob_path(record.image_sha256) if record.image_status == "ok" and record.image_sha256 else None
        )
        if record.text is None and image is None:
            skipped += 1
            continue
        out.append(Example(key=record.post_id, text=record.text, image_path=image, targets=tuple(targets)))
    if skipped:
        log.warning("left %d stored example(s) out: labels outside %s or no content", skipped, list(labels))
    return Dataset(labels=tuple(labels), benign_label=benign_label, examples=out)


def save_snapshot(path: Path, dataset: Dataset) -> None:
    """Write the data set as JSON, atomically and durably (model.durable)."""
    payload = {
        "labels": list(dataset.labels),
        "benign_label": dataset.benign_label,
        "examples": [
            [e.key, e.text, None if e.image_path is None else str(e.image_path), list(e.targets), e.split]
            for e in dataset.examples
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    durable.write_text(path, json.dumps(payload))


def load_snapshot(path: Path) -> Dataset:
    payload = json.loads(path.read_text(encoding="utf-8"))
    examples = [
        Example(
            key=key,
            text=text,
            image_path=None if image is None else Path(image),
            targets=tuple(float(t) for t in targets),
            split=split,
        )
        for key, text, image, targets, split in payload["examples"]
    ]
    return Dataset(labels=tuple(payload["labels"]), benign_label=payload["benign_label"], examples=examples)
