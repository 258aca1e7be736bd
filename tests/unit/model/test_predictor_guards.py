"""The predictor's feature cache gives the scores a full forward gives, and a model never fails open: a
checkpoint whose image tower gives NaN is refused by the smoke test that a text-only check would pass."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from model.checkpoint import Checkpoint, save_checkpoint
from model.images import normalize_images
from model.network import FusionClassifier
from model.predictor import Predictor
from model.preprocess import TextEncoder, collate
from tests.unit.model import imagekit as kit

IMAGES = [kit.jpeg_rgb(), kit.png_palette(), kit.png_grayscale()]


def _posts() -> list[tuple[str | None, bytes | None]]:
    """12 posts over 3 images, most with fresh text: a viral image reposted."""
    posts: list[tuple[str | None, bytes | None]] = [(f"repost number {i}", IMAGES[i % 3]) for i in range(9)]
    return [*posts, (None, IMAGES[0]), ("text only", None), (None, IMAGES[2])]


def test_scores_are_the_same_with_and_without_the_feature_cache(tiny_checkpoint: Checkpoint) -> None:
    cached = Predictor(tiny_checkpoint, torch.device("cpu"))
    plain = Predictor(tiny_checkpoint, torch.device("cpu"), feature_cache_items=0)
    posts = _posts()
    reference = plain.predict(posts)
    first = cached.predict(posts[:4])  # fills the cache with all 3 images
    assert cached.image_forwards == 3
    again = cached.predict(posts)  # every image from the cache
    assert cached.image_forwards == 3 and plain.image_forwards == 3  # repeats in a batch run once
    for got, want in zip([*first, *again], [*reference[:4], *reference], strict=True):
        assert got.scores.keys() == want.scores.keys()
        for label, score in want.scores.items():
            assert got.scores[label] == pytest.approx(score, abs=1e-5)
    # and the network's own forward, with no cache at all, agrees
    prepared = [plain.prepare(text, image) for text, image in posts]
    batch = collate(prepared, plain.text.pad_id)
    assert batch.images is not None
    batch.images = normalize_images(batch.images)  # prepared images are uint8; the predictor normalises
    with torch.inference_mode():
        network = torch.sigmoid(tiny_checkpoint.model(batch)).tolist()
    for got, row in zip(again, network, strict=True):
        assert list(got.scores.values()) == pytest.approx(row, abs=1e-5)


def test_a_swapped_picture_is_not_served_from_the_feature_cache(tiny_checkpoint: Checkpoint) -> None:
    predictor = Predictor(tiny_checkpoint, torch.device("cpu"))
    predictor.predict([("same text", IMAGES[0])])
    predictor.predict([("same text", IMAGES[1])])
    assert predictor.image_forwards == 2 and len(predictor.features) == 2


def test_the_feature_cache_is_bounded(tiny_checkpoint: Checkpoint) -> None:
    predictor = Predictor(tiny_checkpoint, torch.device("cpu"), feature_cache_items=2)
    for image in [*IMAGES, IMAGES[0]]:
        predictor.predict([("t", image)])
    assert len(predictor.features) == 2 and predictor.image_forwards == 4  # IMAGES[0] was evicted


def _nan_image_tower(model: FusionClassifier) -> FusionClassifier:
    broken = copy.deepcopy(model)
    with torch.no_grad():
        first = next(p for p in broken.image_encoder.parameters() if p.dim() > 1)
        first.fill_(float("nan"))
    return broken


def test_a_nan_image_checkpoint_is_refused_at_load(
    tiny_model: FusionClassifier, text_encoder: TextEncoder, tmp_path: Path
) -> None:
    directory = save_checkpoint(
        tmp_path / "nan-image",
        _nan_image_tower(tiny_model),
        tokenizer_dir_or_textencoder=text_encoder,
        thresholds={},
        version="nan-image",
        metrics={},
    )
    predictor = Predictor.load(directory, device="cpu")  # valid, hash-checked: it loads
    [text_only] = predictor.predict([("a text-only post scores fine", None)])
    assert all(0.0 <= v <= 1.0 for v in text_only.scores.values())  # what the old smoke test checked
    with pytest.raises(ValueError, match="smoke test: the image post"):
        predictor.smoke_test()


def test_a_sound_checkpoint_passes_the_smoke_test(tiny_checkpoint: Checkpoint) -> None:
    Predictor(tiny_checkpoint, torch.device("cpu")).smoke_test()
