from __future__ import annotations

from collections import Counter

import pytest

from trainer.dataset import Dataset, Example, assign_split, fingerprint, only_modality, split_examples


def test_split_is_a_pure_function_of_seed_and_key() -> None:
    keys = [f"post-{i}" for i in range(5000)]
    first = [assign_split(k, 0.2, 13) for k in keys]
    assert first == [assign_split(k, 0.2, 13) for k in keys]
    counts = Counter(first)
    assert 0.07 < counts["test"] / len(keys) < 0.13
    assert 0.07 < counts["val"] / len(keys) < 0.13
    other_seed = [assign_split(k, 0.2, 14) for k in keys]
    assert other_seed != first


def test_adding_examples_does_not_move_old_ones() -> None:
    small = Dataset(("a", "b"), "a", [Example(str(i), "t", None, (1.0, 0.0)) for i in range(100)])
    big = Dataset(("a", "b"), "a", [Example(str(i), "t", None, (1.0, 0.0)) for i in range(300)])
    s1 = {e.key: name for name, ex in split_examples(small, 0.3, 1).items() for e in ex}
    s2 = {e.key: name for name, ex in split_examples(big, 0.3, 1).items() for e in ex}
    assert all(s2[k] == v for k, v in s1.items())


def test_an_explicit_split_wins() -> None:
    ds = Dataset(("a",), None, [Example(f"k{i}", "t", None, (1.0,), split="test") for i in range(50)])
    assert len(split_examples(ds, 0.2, 0)["test"]) == 50


def test_fingerprint_and_modality_filter() -> None:
    a = Dataset(("a", "b"), "a", [Example("1", "x", None, (1.0, 0.0))])
    b = Dataset(("a", "b"), "a", [Example("1", "x", None, (0.0, 1.0))])
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(Dataset(("a", "b"), "a", [Example("1", "x", None, (1.0, 0.0))]))
    assert only_modality(a, "image").examples == []  # text-only example has nothing left


def test_target_length_is_checked() -> None:
    with pytest.raises(ValueError):
        Dataset(("a", "b"), "a", [Example("1", "x", None, (1.0,))])
    with pytest.raises(ValueError):
        assign_split("k", 1.0, 0)
