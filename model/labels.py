"""The label set: MMHS150K's six classes by default; a checkpoint carries its own list.

Every component reads the labels from the loaded checkpoint, never from these defaults, so a model
trained on another label set (e.g. Davidson's) flows through unchanged.

    >>> multi_hot(["Racist"], DEFAULT_LABELS, DEFAULT_BENIGN)
    [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    >>> multi_hot([], DEFAULT_LABELS, DEFAULT_BENIGN)     # no label = benign
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# MMHS150K class ids 0..5, in this order.
DEFAULT_LABELS: tuple[str, ...] = ("NotHate", "Racist", "Sexist", "Homophobe", "Religion", "OtherHate")
DEFAULT_BENIGN = "NotHate"


def validate_labels(labels: Sequence[str], benign_label: str | None) -> tuple[str, ...]:
    """The labels as a tuple, after checking they are non-empty, unique strings naming the benign label."""
    out = tuple(labels)
    if not out:
        raise ValueError("the label set is empty")
    if any(not isinstance(name, str) or not name for name in out):
        raise ValueError(f"labels must be non-empty strings: {out!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate labels: {out!r}")
    if benign_label is not None and benign_label not in out:
        raise ValueError(f"benign label {benign_label!r} is not one of {out!r}")
    return out


def multi_hot(names: Iterable[str], labels: Sequence[str], benign_label: str | None) -> list[float]:
    """A 0/1 target vector over `labels`; an empty set means benign (when the label set has one).

    Unknown names raise ValueError: a typo must not silently train a post as benign.
    """
    index = {name: i for i, name in enumerate(labels)}
    vector = [0.0] * len(labels)
    seen = False
    for name in names:
        if name not in index:
            raise ValueError(f"unknown label {name!r}; known: {list(labels)}")
        vector[index[name]] = 1.0
        seen = True
    if not seen and benign_label is not None:
        vector[index[benign_label]] = 1.0
    return vector
