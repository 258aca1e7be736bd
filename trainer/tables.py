"""Feature tables for head-only training: every example's frozen text and image features, in memory.

    >>> table = feature_table(model, text, examples, cache_dir, device)
    >>> logits = table.head_logits(model, rows=[0, 5, 9], device=device)     # (3, L)

Features come from the on-disk cache (trainer.features) and only missing ones are computed, with
the towers in eval mode, so a retrain on mostly old data re-encodes only the new posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from model.network import FusionClassifier
from model.preprocess import TextEncoder
from trainer import batches as B
from trainer.dataset import Example
from trainer.features import FeatureStore, fill_store, image_key, text_key, tower_identity


@dataclass
class FeatureTable:
    text: torch.Tensor  # (N, Dt); zero rows where there is no text
    has_text: torch.Tensor  # (N,) bool
    image: torch.Tensor  # (N, Di); zero rows where there is no image
    has_image: torch.Tensor  # (N,) bool

    def head_logits(
        self,
        model: FusionClassifier,
        rows: Sequence[int],
        device: torch.device,
        modality_dropout: float = 0.0,
    ) -> torch.Tensor:
        index = torch.tensor(list(rows), dtype=torch.long)
        has_text, has_image = self.has_text[index], self.has_image[index]
        if modality_dropout > 0:  # as FusionClassifier.forward: hide one modality of posts that have both
            both = has_text & has_image
            draw = torch.rand(len(index))
            has_image = has_image & ~(both & (draw < modality_dropout / 2))
            has_text = has_text & ~(both & (draw >= modality_dropout / 2) & (draw < modality_dropout))
        text = self.text[index][has_text].to(device) if bool(has_text.any()) else None  # (N_txt, Dt)
        image = self.image[index][has_image].to(device) if bool(has_image.any()) else None  # (N_img, Di)
        return model.head(image, text, has_image.to(device), has_text.to(device))  # (B, L)


def _text_description(model: FusionClassifier) -> dict[str, object]:
    c = model.config
    return {"kind": "text", "encoder": c.text_encoder, "pooling": c.text_pooling, "max_length": c.max_length}


def _image_description(model: FusionClassifier) -> dict[str, object]:
    c = model.config
    return {"kind": "image", "encoder": c.image_encoder, "weights": c.image_weights, "size": c.image_size}


def feature_table(
    model: FusionClassifier,
    text: TextEncoder,
    examples: Sequence[Example],
    cache_dir: Path,
    device: torch.device,
    *,
    batch_size: int = 64,
    progress: bool = True,
) -> FeatureTable:
    n = len(examples)
    was_training = model.training
    model.eval()
    try:
        text_feats, has_text = _text_features(model, text, examples, cache_dir, device, batch_size, progress)
        image_feats, has_image = _image_features(model, examples, cache_dir, device, batch_size, progress)
    finally:
        model.train(was_training)
    assert text_feats.shape[0] == n and image_feats.shape[0] == n
    return FeatureTable(text=text_feats, has_text=has_text, image=image_feats, has_image=has_image)


def _text_features(
    model: FusionClassifier,
    text: TextEncoder,
    examples: Sequence[Example],
    cache_dir: Path,
    device: torch.device,
    batch_size: int,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    has = torch.tensor([bool(e.text) for e in examples], dtype=torch.bool)
    out = torch.zeros((len(examples), model.text_dim))
    rows = [i for i, e in enumerate(examples) if e.text]
    if not rows:
        return out, has
    store = FeatureStore(cache_dir, tower_identity(model.text_encoder, _text_description(model)))
    keys = [text_key(examples[i].text or "") for i in rows]
    missing = {k for k in store.missing(keys)}
    todo = [i for i, k in zip(rows, keys, strict=True) if k in missing]
    if todo:
        todo_keys, seen = [], set()
        texts = []
        for i in todo:
            k = text_key(examples[i].text or "")
            if k not in seen:
                seen.add(k)
                todo_keys.append(k)
                texts.append(examples[i].text or "")
        tokens = text.encode_many(texts)
        order = sorted(range(len(texts)), key=lambda j: len(tokens[j]))  # little padding per batch
        sorted_keys = [todo_keys[j] for j in order]
        sorted_tokens = [tokens[j] for j in order]

        def compute(idx: list[int]) -> torch.Tensor:
            longest = max(len(sorted_tokens[j]) for j in idx)
            ids = torch.full((len(idx), longest), text.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), longest), dtype=torch.long)
            for r, j in enumerate(idx):
                ids[r, : len(sorted_tokens[j])] = torch.tensor(sorted_tokens[j])
                mask[r, : len(sorted_tokens[j])] = 1
            with torch.inference_mode():
                return model.encode_texts(ids.to(device), mask.to(device)).float().cpu()  # (n, Dt)

        with tqdm(total=len(order), desc="text features", disable=not progress, leave=False) as bar:
            fill_store(store, sorted_keys, compute, batch_size=batch_size, progress=bar.update)
    out[rows] = store.get(keys)
    return out, has


def _image_features(
    model: FusionClassifier,
    examples: Sequence[Example],
    cache_dir: Path,
    device: torch.device,
    batch_size: int,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    has = torch.tensor([e.image_path is not None for e in examples], dtype=torch.bool)
    out = torch.zeros((len(examples), model.image_dim))
    rows = [i for i, e in enumerate(examples) if e.image_path is not None]
    if not rows:
        return out, has
    store = FeatureStore(cache_dir, tower_identity(model.image_encoder, _image_description(model)))
    paths = [examples[i].image_path for i in rows]
    keys = [image_key(p) for p in paths if p is not None]
    first: dict[str, Path] = {}
    for k, p in zip(keys, paths, strict=True):
        if p is not None:
            first.setdefault(k, p)
    todo_keys = store.missing(keys)
    size = model.config.image_size

    def compute(idx: list[int]) -> torch.Tensor:
        images = torch.stack([B.load_image(first[todo_keys[j]], size) for j in idx])  # (n, 3, S, S)
        with torch.inference_mode():
            return model.encode_images(images.to(device)).float().cpu()  # (n, Di)

    if todo_keys:
        with tqdm(total=len(todo_keys), desc="image features", disable=not progress, leave=False) as bar:
            fill_store(store, todo_keys, compute, batch_size=batch_size, progress=bar.update)
    out[rows] = store.get(keys)
    return out, has
