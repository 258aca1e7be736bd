"""Predictor: every kind of post is scored; top-3 and flagged follow the scores and thresholds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.checkpoint import Checkpoint
from model.images import ImageDecodeError
from model.predictor import Predictor, is_flagged, resolve_device, top_k
from tests.unit.model import imagekit as kit


@pytest.mark.parametrize(
    ("scores", "k", "expected"),
    [
        ({"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7}, 3, [("b", 0.9), ("d", 0.7), ("c", 0.5)]),
        ({"a": 0.2, "b": 0.1}, 3, [("a", 0.2), ("b", 0.1)]),  # fewer labels than k
        ({"a": 0.5, "b": 0.5, "c": 0.6}, 2, [("c", 0.6), ("a", 0.5)]),  # ties keep label order
    ],
)
def test_top_k(scores: dict[str, float], k: int, expected: list[tuple[str, float]]) -> None:
    assert top_k(scores, k) == expected


@pytest.mark.parametrize(
    ("scores", "flagged"),
    [
        ({"NotHate": 0.99, "Racist": 0.1}, False),  # the benign label never flags
        ({"NotHate": 0.1, "Racist": 0.3}, True),  # at its own threshold (0.3) counts
        ({"NotHate": 0.1, "Racist": 0.29}, False),
        ({"NotHate": 0.1, "Racist": 0.0, "Sexist": 0.5}, True),  # default 0.5 for labels with none
    ],
)
def test_is_flagged(scores: dict[str, float], flagged: bool) -> None:
    assert is_flagged(scores, {"NotHate": 0.5, "Racist": 0.3}, "NotHate") is flagged


def test_text_only_image_only_and_both_are_scored(tiny_checkpoint: Checkpoint) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    out = predictor.predict([("only text", None), (None, kit.gif_animated()), ("both", kit.jpeg_cmyk())])
    assert len(out) == 3
    for prediction in out:
        assert list(prediction.scores) == list(tiny_checkpoint.config.labels)
        assert all(0.0 <= s <= 1.0 for s in prediction.scores.values())
        ranked = sorted(prediction.scores.values(), reverse=True)
        assert [s for _, s in prediction.top] == ranked[:3]
        assert prediction.top == top_k(prediction.scores)


def test_flagged_follows_the_checkpoint_thresholds(tiny_checkpoint: Checkpoint) -> None:
    never = dataclasses.replace(tiny_checkpoint, thresholds=dict.fromkeys(tiny_checkpoint.config.labels, 1.0))
    always = dataclasses.replace(
        tiny_checkpoint, thresholds=dict.fromkeys(tiny_checkpoint.config.labels, 0.0)
    )
    assert not Predictor.from_checkpoint(never, device="cpu").predict([("text", None)])[0].flagged
    assert Predictor.from_checkpoint(always, device="cpu").predict([("text", None)])[0].flagged


def test_prepare_refuses_empty_posts_and_bad_images(tiny_checkpoint: Checkpoint) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    with pytest.raises(ValueError):
        predictor.prepare(None, None)
    with pytest.raises(ValueError):
        predictor.prepare("   ", None)  # blank text is no text
    with pytest.raises(ImageDecodeError):
        predictor.prepare("text", b"<html></html>")
    assert predictor.predict_prepared([]) == []


def test_device_auto_picks_cuda_only_when_present() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
