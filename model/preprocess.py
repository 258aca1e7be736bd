"""Posts -> model inputs: tokenisation, prepared posts, and collation with dynamic padding.

    >>> text = TextEncoder.from_dir(config.tokenizer_source, max_length=128)
    >>> posts = [PreparedPost(text.encode("hi"), decode_image(jpeg)), PreparedPost(None, decode_image(png))]
    >>> batch = collate(posts, pad_id=text.pad_id)  # input_ids (2, longest text), images (2, 3, 224, 224)

Image decoding lives in `model.images` and is re-exported here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_PIXELS_PER_BYTE,
    ImageDecodeError,
    decode_image,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_PIXELS_PER_BYTE",
    "ImageDecodeError",
    "ModelBatch",
    "PreparedPost",
    "TextEncoder",
    "collate",
    "decode_image",
]


class TextEncoder:
    """Wraps a Hugging Face fast tokenizer: text -> token ids with [CLS]/[SEP], truncated."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no padding token")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id: int = int(tokenizer.pad_token_id)
        self._backend = _truncating_backend(tokenizer, max_length)

    @classmethod
    def from_dir(cls, path: str | Path, max_length: int) -> TextEncoder:
        """Load from a local directory (or, where the hub is reachable, an HF id)."""
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(path)), max_length)

    def encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]
        return list(ids)

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """Batch form of `encode` (the fast tokenizer parallelises it)."""
        if not texts:
            return []
        if self._backend is not None:  # the Rust tokenizer itself: it holds the GIL for a fraction of
            return [enc.ids for enc in self._backend.encode_batch(list(texts))]  # the wrapper's time
        out = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return [list(ids) for ids in out]

    def save(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(str(directory))


def _truncating_backend(tokenizer: Any, max_length: int) -> Any:
    """A copy of a fast tokenizer's Rust backend that truncates like `tokenizer(text, truncation=True,
    max_length=...)` and never pads (the same ids: tests/unit/model/test_text_encoder.py), or None for a
    tokenizer without one."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    backend = copy.deepcopy(backend)
    backend.no_padding()
    backend.enable_truncation(max_length)
    return backend


@dataclass
class PreparedPost:
    """One post ready to batch: token ids (None = no text) and a decoded image (None = no image)."""

    token_ids: list[int] | None
    image: torch.Tensor | None  # (3, S, S)
    image_key: str | None = None  # sha256 hex of the image bytes: the predictor's feature-cache key

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids) if self.token_ids is not None else 0


@dataclass
class ModelBatch:
    input_ids: torch.Tensor  # (B, T) long; T = longest text in the batch; text-less rows are padding
    attention_mask: torch.Tensor  # (B, T) long; 1 = real token
    images: torch.Tensor | None  # (N_img, 3, S, S) for the posts with has_image, in post order
    has_text: torch.Tensor  # (B,) bool
    has_image: torch.Tensor  # (B,) bool

    def __len__(self) -> int:
        return int(self.has_text.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ModelBatch:
        return ModelBatch(
            input_ids=self.input_ids.to(device, non_blocking=non_blocking),
            attention_mask=self.attention_mask.to(device, non_blocking=non_blocking),
            images=None if self.images is None else self.images.to(device, non_blocking=non_blocking),
            has_text=self.has_text.to(device, non_blocking=non_blocking),
            has_image=self.has_image.to(device, non_blocking=non_blocking),
        )


def collate(posts: Sequence[PreparedPost], pad_id: int) -> ModelBatch:
    """Stack posts into one batch, padding texts only to the longest text among them."""
    if not posts:
        raise ValueError("cannot collate an empty batch")
    longest = max(1, max(post.n_tokens for post in posts))
    # filled in numpy, one slice per row, then shared with torch: a torch tensor per row costs ~8x as much
    input_ids = np.full((len(posts), longest), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(posts), longest), dtype=np.int64)
    images: list[torch.Tensor] = []
    for row, post in enumerate(posts):
        if post.token_ids is None and post.image is None:
            raise ValueError(f"post {row} has neither text nor image")
        if post.token_ids:
            input_ids[row, : post.n_tokens] = post.token_ids
            attention_mask[row, : post.n_tokens] = 1
        if post.image is not None:
            images.append(post.image)
    has_text = torch.tensor([bool(post.token_ids) for post in posts], dtype=torch.bool)
    has_image = torch.tensor([post.image is not None for post in posts], dtype=torch.bool)
    return ModelBatch(
        input_ids=torch.from_numpy(input_ids),
        attention_mask=torch.from_numpy(attention_mask),
        images=torch.stack(images) if images else None,
        has_text=has_text,
        has_image=has_image,
    )
