"""FusionClassifier: batch invariance, missing modalities, widths read from the encoders."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.config import ModelConfig
from model.images import decode_image
from model.network import FusionClassifier
from model.preprocess import PreparedPost, TextEncoder, collate
from tests.unit.model import imagekit as kit


def scores_of(model: FusionClassifier, posts: list[PreparedPost], pad_id: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.sigmoid(model(collate(posts, pad_id)))  # (B, L)


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooler"])
def test_scores_do_not_depend_on_batch_mates_or_padding(pooling: str, text_encoder: TextEncoder) -> None:
    torch.manual_seed(7)
    config = dataclasses.replace(ModelConfig.tiny(), text_pooling=pooling)
    model = FusionClassifier(config, pretrained=False).eval()
    pad = text_encoder.pad_id
    target = PreparedPost(text_encoder.encode("a short post"), decode_image(kit.jpeg_rgb()))
    long_text = text_encoder.encode(" ".join(["much longer text about many things"] * 30))
    assert len(long_text) > 5 * target.n_tokens  # the target gets heavy padding in the batch
    alone = scores_of(model, [target], pad)[0]

    mates = [
        PreparedPost(long_text, decode_image(kit.png_palette())),
        PreparedPost(long_text, None),
        PreparedPost(None, decode_image(kit.bmp())),
        PreparedPost(text_encoder.encode("other words entirely"), decode_image(kit.tiff())),
    ]
    with_images = [*mates[:3], target, *mates]  # 8 posts, target at index 3
    without_images = [PreparedPost(long_text, None)] * 3 + [target] + [PreparedPost(long_text, None)] * 4
    for batch in (with_images, without_images):
        assert len(batch) == 8
        in_batch = scores_of(model, batch, pad)[3]
        assert torch.allclose(in_batch, alone, atol=1e-5, rtol=0), (in_batch - alone).abs().max()


def test_text_only_image_only_and_both_are_scored(
    tiny_model: FusionClassifier, text_encoder: TextEncoder
) -> None:
    ids = text_encoder.encode("hello there")
    image = decode_image(kit.jpeg_rgb())
    scores = scores_of(
        tiny_model, [PreparedPost(ids, None), PreparedPost(None, image), PreparedPost(ids, image)], 0
    )
    assert scores.shape == (3, len(tiny_model.config.labels))
    assert torch.isfinite(scores).all()
    # The placeholder stands in for the missing tower: the three posts are scored differently.
    assert not torch.allclose(scores[0], scores[2]) and not torch.allclose(scores[1], scores[2])


def test_a_batch_without_any_text_or_any_image_runs(tiny_model: FusionClassifier) -> None:
    image = decode_image(kit.jpeg_rgb())
    assert scores_of(tiny_model, [PreparedPost(None, image)] * 2, 0).shape == (2, 6)
    assert scores_of(tiny_model, [PreparedPost([101, 102], None)] * 2, 0).shape == (2, 6)


def test_modality_dropout_hides_at_most_one_modality_and_only_of_complete_posts() -> None:
    torch.manual_seed(0)
    has_image = torch.tensor([True, True, False, True] * 500)
    has_text = torch.tensor([True, False, True, True] * 500)
    drop_image, drop_text = FusionClassifier._modality_dropout(has_image, has_text, 0.5)
    assert not (drop_image & drop_text).any()
    assert not ((drop_image | drop_text) & ~(has_image & has_text)).any()
    rate = (drop_image | drop_text).float().sum() / (has_image & has_text).sum()
    assert 0.4 < float(rate) < 0.6


def test_training_forward_with_modality_dropout_backpropagates(
    tiny_model: FusionClassifier, text_encoder: TextEncoder
) -> None:
    image = decode_image(kit.jpeg_rgb())
    batch = collate(
        [PreparedPost(text_encoder.encode("x y z"), image) for _ in range(4)], text_encoder.pad_id
    )
    tiny_model.train()
    logits = tiny_model(batch, modality_dropout=1.0)
    logits.sum().backward()
    assert tiny_model.image_placeholder.grad is not None or tiny_model.text_placeholder.grad is not None


def test_freeze_encoders_keeps_frozen_towers_in_eval(tiny_model: FusionClassifier) -> None:
    tiny_model.freeze_encoders(trainable_text_layers=1, train_image=False)
    tiny_model.train()
    assert not tiny_model.image_encoder.training
    assert not any(p.requires_grad for p in tiny_model.image_encoder.parameters())
    layers = tiny_model.text_encoder.encoder.encoder.layer
    assert all(p.requires_grad for p in layers[-1].parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in tiny_model.classifier.parameters())


def test_base_architecture_widths_come_from_the_encoders() -> None:
    model = FusionClassifier(ModelConfig.base(), pretrained=False)
    assert (model.image_dim, model.text_dim) == (512, 768)
    assert model.classifier[0].in_features == 512 + 768
    assert model.classifier[-1].out_features == 6


def test_minilm_preset_loads_the_packaged_pretrained_encoder_offline() -> None:
    model = FusionClassifier(ModelConfig.minilm(), pretrained=True)
    assert model.text_dim == 384
    assert model.text_encoder.pooling == "mean"
