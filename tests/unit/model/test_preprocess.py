"""Tokenisation (the real offline vocabulary) and collation with dynamic padding."""

from __future__ import annotations

import functools
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


TRICKY = [
    "",
    " ",
    "Hello, World!",
    "word " * 300,  # truncated
    "héllo 🤖 naïve café " * 40,
    "RT @user: http://t.co/abc #tag &amp; &#128512;",
    "a\u0000b\u200bc\u202ed",  # NUL, zero-width space, right-to-left override
    "\ud7ff\ue000\U0010ffff",
    "中文 日本語 한국어 العربية",
]


@functools.cache
def _short_encoder() -> TextEncoder:  # max_length 32: generated texts are often truncated
    return TextEncoder.from_dir(ModelConfig.tiny().tokenizer_source, max_length=32)


@given(st.lists(st.text(max_size=400), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_the_batch_call_gives_each_text_the_ids_of_the_one_text_call(texts: list[str]) -> None:
    """encode_many uses the Rust backend directly (consumer hot path); encode is the transformers call the
    trainer's ids came from. Any difference would score a post differently from how it was trained."""
    text = _short_encoder()
    assert text.encode_many(texts) == [text.encode(t) for t in texts]


def test_the_batch_call_agrees_on_tricky_text(text_encoder: TextEncoder) -> None:
    assert text_encoder.encode_many(TRICKY) == [text_encoder.encode(t) for t in TRICKY]
