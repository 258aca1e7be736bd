"""Tokenisation (the real offline vocabulary) and collation with dynamic padding."""

from __future__ import annotations

import os

import pytest
import torch

from model.config import ModelConfig
from model.preprocess import PreparedPost, TextEncoder, collate


def test_the_real_tokenizer_loads_offline() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py; nothing may reach a hub
    text = TextEncoder.from_dir(ModelConfig.tiny().tokenizer_source, max_length=128)
    assert text.tokenizer.is_fast
    assert len(text.tokenizer) == 30522  # bert-base-uncased's WordPiece vocabulary
    assert text.encode("Hello, World!") == [101, 7592, 1010, 2088, 999, 102]
    assert text.pad_id == 0


def test_long_text_is_truncated_to_max_length(text_encoder: TextEncoder) -> None:
    short = TextEncoder(text_encoder.tokenizer, max_length=16)
    ids = short.encode("word " * 100)
    assert len(ids) == 16 and ids[0] == 101 and ids[-1] == 102
    assert short.encode_many(["a b", "word " * 100]) == [short.encode("a b"), ids]


def test_collate_pads_only_to_the_longest_text() -> None:
    image = torch.zeros(3, 224, 224)
    posts = [
        PreparedPost([101, 5, 6, 102], None),
        PreparedPost(None, image),
        PreparedPost([101, 7, 102], image + 1),
    ]
    batch = collate(posts, pad_id=0)
    assert batch.input_ids.tolist() == [[101, 5, 6, 102], [0, 0, 0, 0], [101, 7, 102, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]]
    assert batch.has_text.tolist() == [True, False, True]
    assert batch.has_image.tolist() == [False, True, True]
    assert batch.images is not None and batch.images.shape == (2, 3, 224, 224)
    assert batch.images[1].eq(1).all()  # images stay in post order
    assert len(batch) == 3


def test_collate_of_image_only_posts_has_no_text_rows() -> None:
    batch = collate([PreparedPost(None, torch.zeros(3, 8, 8))], pad_id=0)
    assert batch.input_ids.shape == (1, 1) and not batch.has_text.any()


def test_collate_refuses_empty_posts_and_empty_batches() -> None:
    with pytest.raises(ValueError):
        collate([PreparedPost(None, None)], pad_id=0)
    with pytest.raises(ValueError):
        collate([], pad_id=0)
