"""Inputs for the training loop: batch order, prepared posts, and tables of cached features.

Batches are drawn from a seeded generator per epoch (so a resumed epoch sees the same order as an
uninterrupted one) and bucketed by text length: shuffle, sort each window of 50 batches by length,
cut, shuffle the batches. Padding then costs little, which matters most on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from model.preprocess import ModelBatch, PreparedPost, TextEncoder, collate, decode_image
from trainer.dataset import Example
from trainer.readers.files import MAX_IMAGE_BYTES, read_capped

BUCKET_WINDOW = 50  # batches per length-sorted window


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=g).tolist()
    window = batch_size * BUCKET_WINDOW
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    perm = torch.randperm(len(batches), generator=g).tolist()
    return [batches[i] for i in perm]


def eval_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def tokenize(examples: Sequence[Example], text: TextEncoder) -> list[list[int] | None]:
    with_text = [i for i, e in enumerate(examples) if e.text]
    ids = text.encode_many([examples[i].text or "" for i in with_text])
    out: list[list[int] | None] = [None] * len(examples)
    for i, tokens in zip(with_text, ids, strict=True):
        out[i] = tokens
    return out


def load_image(path: Path, size: int) -> torch.Tensor:
    """A regular file, read with a byte cap and never blocking (vet_images checked it decodes)."""
    return decode_image(read_capped(path, MAX_IMAGE_BYTES), size=size)


def make_batch(
    examples: Sequence[Example],
    tokens: Sequence[list[int] | None],
    rows: Sequence[int],
    *,
    pad_id: int,
    size: int,
) -> ModelBatch:
    posts = [
        PreparedPost(
            token_ids=tokens[i],
            image=load_image(examples[i].image_path, size) if examples[i].image_path is not None else None,  # type: ignore[arg-type]
        )
        for i in rows
    ]
    return collate(posts, pad_id)


def targets_tensor(examples: Sequence[Example]) -> torch.Tensor:
    return torch.tensor([e.targets for e in examples], dtype=torch.float32)  # (N, L)


def text_lengths(tokens: Sequence[list[int] | None]) -> list[int]:
    return [len(t) if t else 0 for t in tokens]
