"""A labelled data set as the trainer sees it: examples with soft targets, and a stable split.

    >>> ds = Dataset(labels=("NotHate", "Racist"), benign_label="NotHate",
    ...              examples=[Example(key="1", text="hi", image_path=None, targets=(1.0, 0.0))])
    >>> splits = split_examples(ds, holdout_fraction=0.2, seed=13)
    >>> sorted(splits)
    ['test', 'train', 'val']

Targets are per-label values in [0, 1]: 0/1 for a moderator's decision, vote fractions for
multi-annotator data (two of three annotators said Racist -> 0.667). The split of an example that
does not carry one comes from a hash of its key, so the same post lands in the same split on every
retrain, and a candidate and the serving model are compared on the same held-out posts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Example:
    key: str  # post_id or the file's row id; unique within a dataset
    text: str | None
    image_path: Path | None  # a file on disk (MMHS150K img_resized/, or the feedback store's blobs/)
    targets: tuple[float, ...]  # one per label, in [0, 1]; soft = vote fractions
    split: Split | None = None  # None = assign deterministically by hash(key)


@dataclass(frozen=True)
class Dataset:
    labels: tuple[str, ...]
    benign_label: str | None
    examples: list[Example] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.benign_label is not None and self.benign_label not in self.labels:
            raise ValueError(f"benign label {self.benign_label!r} is not one of {self.labels!r}")
        for example in self.examples:
            if len(example.targets) != len(self.labels):
                n, want = len(example.targets), len(self.labels)
                raise ValueError(f"example {example.key!r} has {n} targets for {want} labels")


def assign_split(key: str, holdout_fraction: float, seed: int) -> Split:
    """The split of `key`: a pure function of (seed, key), so it never changes between retrains.

    The holdout is shared evenly between val (thresholds) and test (the reported figures):
    holdout_fraction=0.2 -> 80% train, 10% val, 10% test.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if u < holdout_fraction / 2:
        return "test"
    if u < holdout_fraction:
        return "val"
    return "train"


def split_of(example: Example, holdout_fraction: float, seed: int) -> Split:
    return example.split or assign_split(example.key, holdout_fraction, seed)


def split_examples(dataset: Dataset, holdout_fraction: float, seed: int) -> dict[Split, list[Example]]:
    """Examples by split; an example's own split (e.g. MMHS150K's split files) wins over the hash."""
    out: dict[Split, list[Example]] = {name: [] for name in SPLITS}
    for example in dataset.examples:
        out[split_of(example, holdout_fraction, seed)].append(example)
    return out


def only_modality(dataset: Dataset, keep: Literal["both", "text", "image"]) -> Dataset:
    """The same data with one modality removed (for text-only / image-only baselines)."""
    if keep == "both":
        return dataset
    examples = [
        Example(
            key=e.key,
            text=e.text if keep == "text" else None,
            image_path=e.image_path if keep == "image" else None,
            targets=e.targets,
            split=e.split,
        )
        for e in dataset.examples
    ]
    kept = [e for e in examples if e.text or e.image_path is not None]
    return Dataset(labels=dataset.labels, benign_label=dataset.benign_label, examples=kept)


def fingerprint(dataset: Dataset) -> str:
    """A digest of everything that shapes training: labels, keys, content, targets, splits.

    A resumed run continues only when the data is the same as when its state was saved.
    """
    h = hashlib.sha256()
    h.update(repr((dataset.labels, dataset.benign_label)).encode())
    for e in dataset.examples:
        image = str(e.image_path) if e.image_path is not None else ""
        h.update(repr((e.key, e.text, image, e.targets, e.split)).encode())
    return h.hexdigest()


def label_counts(examples: list[Example], n_labels: int, threshold: float = 0.5) -> list[int]:
    """How many examples have each label (target >= threshold): the support table in logs."""
    counts = [0] * n_labels
    for e in examples:
        for i, t in enumerate(e.targets):
            if t >= threshold:
                counts[i] += 1
    return counts


def subsample_train(dataset: Dataset, n_train: int, holdout_fraction: float, seed: int) -> Dataset:
    """Keep every val and test example and a class-stratified sample of `n_train` training examples.

    Strata are the argmax of the targets (the majority class), so rare classes keep their share;
    val and test are untouched, so figures stay comparable with a run on all the data.
    """
    strata: dict[int, list[Example]] = {}
    held: list[Example] = []
    for e in dataset.examples:
        if split_of(e, holdout_fraction, seed) == "train":
            strata.setdefault(max(range(len(e.targets)), key=lambda j: e.targets[j]), []).append(e)
        else:
            held.append(e)
    total = sum(len(v) for v in strata.values())
    keep: list[Example] = []
    for _, members in sorted(strata.items()):
        members = sorted(members, key=lambda e: hashlib.sha256(f"{seed}/{e.key}".encode()).digest())
        keep.extend(members[: max(1, round(n_train * len(members) / max(1, total)))])
    return Dataset(dataset.labels, dataset.benign_label, keep + held)
