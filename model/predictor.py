"""`Predictor`: a loaded checkpoint that scores posts. Built once per process, then reused.

    >>> predictor = Predictor.load(registry.path(registry.current()))     # device auto: CUDA if present
    >>> [p] = predictor.predict([("some text", jpeg_bytes)])
    >>> p.scores["Racist"], p.top, p.flagged

Scores are independent per-label sigmoids of the post's own logits. On CUDA the forward pass
runs under bf16 autocast with channels_last images; on CPU in fp32. `prepare` (tokenise, decode)
is separate from `predict_prepared` so callers can decode images off the model's thread, or in
worker processes (`consumer.prep_pool`, then `prepare_decoded`).

Images travel as (3, S, S) uint8 up to the model's device and are normalised there (`_to_device`):
a quarter of float32's bytes over PCIe, copied from pinned memory without blocking the host. A
PreparedPost holding a float image (already normalised: the trainer's `decode_image`) is used as it is.

Image features are cached per predictor by the image bytes' sha256 (`model.feature_cache`): a post whose
image was seen runs only the text tower and the head. `image_forwards` counts the images that did run
through the image tower.

A model never fails open: `smoke_test` (run before a version serves) scores a text-only, an image-only and
a text+image post (a generated image) and raises unless every score is a finite probability. At serving
time the caller checks each prediction (consumer.routing.non_finite): a NaN is never a verdict.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import Checkpoint, load_checkpoint
from model.feature_cache import FeatureCache
from model.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodeLimits,
    decode_image_uint8,
    normalize_images,
)
from model.preprocess import ModelBatch, PreparedPost, collate

# Image features kept per predictor (about 2 KiB each at 512-d fp32).
DEFAULT_FEATURE_CACHE_ITEMS = 4096


@dataclass(frozen=True)
class Prediction:
    scores: dict[str, float]  # every label
    top: list[tuple[str, float]]  # top-3 (or all if fewer labels), descending
    flagged: bool  # any non-benign label >= its threshold


def top_k(scores: dict[str, float], k: int = 3) -> list[tuple[str, float]]:
    """The k highest scores, descending; ties keep the label order."""
    return sorted(scores.items(), key=lambda item: -item[1])[:k]


def is_flagged(scores: dict[str, float], thresholds: dict[str, float], benign_label: str | None) -> bool:
    return any(
        score >= thresholds.get(label, 0.5) for label, score in scores.items() if label != benign_label
    )


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Predictor:
    def __init__(
        self,
        ckpt: Checkpoint,
        device: torch.device,
        *,
        max_image_bytes: int = DEFAULT_MAX_BYTES,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        feature_cache_items: int = DEFAULT_FEATURE_CACHE_ITEMS,
    ) -> None:
        self.checkpoint = ckpt
        self.device = device
        self.version = ckpt.version
        self.labels = ckpt.config.labels
        self.benign_label = ckpt.config.benign_label
        self.thresholds = dict(ckpt.thresholds)
        self.text = ckpt.text
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self._cuda = device.type == "cuda"
        model = ckpt.model.to(device).eval()
        if self._cuda:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.features = FeatureCache(feature_cache_items)
        self.image_forwards = 0  # images run through the image tower (the rest came from `features`)
        self.on_image_forwards: Callable[[int], None] | None = None  # e.g. a metric's inc

    @classmethod
    def load(cls, directory: Path | str, device: str = "auto") -> Predictor:
        target = resolve_device(device)
        return cls(load_checkpoint(directory, device=target), target)

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, device: str | torch.device = "auto") -> Predictor:
        return cls(ckpt, resolve_device(device))

    # -- preparation (CPU; thread-safe) -----------------------------------------------------------
    def prepare_text(self, text: str) -> list[int]:
        return self.text.encode(text)

    @property
    def decode_limits(self) -> DecodeLimits:
        """What an image is decoded with for this model (sent to the prep workers with each image)."""
        return DecodeLimits(
            size=self.checkpoint.config.image_size,
            max_bytes=self.max_image_bytes,
            max_pixels=self.max_image_pixels,
        )

    def prepare_image(self, image_bytes: bytes) -> torch.Tensor:
        """(3, S, S) uint8, not yet normalised (that happens on the device); raises ImageDecodeError."""
        limits = self.decode_limits
        return torch.from_numpy(
            decode_image_uint8(
                image_bytes,
                size=limits.size,
                max_bytes=limits.max_bytes,
                max_pixels=limits.max_pixels,
                max_pixels_per_byte=limits.max_pixels_per_byte,
            )
        )

    def prepare(self, text: str | None, image_bytes: bytes | None) -> PreparedPost:
        """Tokenise and decode one post. Blank text counts as no text. May raise ImageDecodeError."""
        image = self.prepare_image(image_bytes) if image_bytes is not None else None
        key = hashlib.sha256(image_bytes).hexdigest() if image_bytes is not None else None
        return self.prepare_decoded(text, image, image_key=key)

    def prepare_decoded(
        self, text: str | None, image: np.ndarray | torch.Tensor | None, *, image_key: str | None = None
    ) -> PreparedPost:
        """Tokenise one post whose image was decoded elsewhere (a prep worker): (3, S, S) uint8 or None.
        `image_key` is the sha256 hex of the image BYTES (the feature cache's key; None = not cached).
        An image of another size than this model's (decoded for the version before a swap) is refused
        with ValueError."""
        token_ids = self.prepare_text(text) if text is not None and text.strip() else None
        return self._prepared(token_ids, image, image_key)

    def prepare_decoded_many(
        self,
        items: Sequence[tuple[str | None, np.ndarray | torch.Tensor | None]],
        image_keys: Sequence[str | None] | None = None,
    ) -> list[PreparedPost]:
        """`prepare_decoded` for many posts with ONE call of the fast tokenizer's batch encoder. The ids
        of each text are those `prepare_text` gives it alone (no padding here; truncation is per text),
        so scores stay batch-invariant. Raises on the first bad post: callers fall back to one by one."""
        texts = [text for text, _ in items if text is not None and text.strip()]
        encoded = iter(self.text.encode_many(texts))
        keys = list(image_keys) if image_keys is not None else [None] * len(items)
        if len(keys) != len(items):
            raise ValueError(f"{len(keys)} image keys for {len(items)} posts")
        out = []
        for (text, image), key in zip(items, keys, strict=True):
            token_ids = next(encoded) if text is not None and text.strip() else None
            out.append(self._prepared(token_ids, image, key))
        return out

    def _prepared(
        self, token_ids: list[int] | None, image: np.ndarray | torch.Tensor | None, image_key: str | None
    ) -> PreparedPost:
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(image)
        if image is not None:
            size = self.checkpoint.config.image_size
            if image.dtype != torch.uint8 or tuple(image.shape) != (3, size, size):
                raise ValueError(
                    f"expected a (3, {size}, {size}) uint8 image, got {image.dtype} {tuple(image.shape)}"
                )
        if token_ids is None and image is None:
            raise ValueError("a post needs text or an image")
        return PreparedPost(
            token_ids=token_ids, image=image, image_key=image_key if image is not None else None
        )

    # -- scoring ---------------------------------------------------------------------------------
    def predict_prepared(self, posts: Sequence[PreparedPost]) -> list[Prediction]:
        if not posts:
            return []
        with torch.inference_mode():
            batch = self._to_device(collate(posts, self.text.pad_id))
            if self._cuda:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = self._forward(batch, posts)
            else:
                logits = self._forward(batch, posts)
            scores = torch.sigmoid(logits.float()).cpu().tolist()  # (B, L): per label, never over the batch
        out = [self._prediction(row) for row in scores]
        if len(out) != len(posts):
            raise RuntimeError(f"{len(out)} predictions for {len(posts)} posts")
        return out

    def _to_device(self, batch: ModelBatch) -> ModelBatch:
        """Host batch -> the model's device. On CUDA: pinned host memory, non-blocking copies (ordered on
        the current stream, so the forward pass sees them complete), channels_last images. uint8 images
        are normalised after the copy, on the device."""
        if self._cuda:
            batch = ModelBatch(
                input_ids=batch.input_ids.pin_memory(),
                attention_mask=batch.attention_mask.pin_memory(),
                images=None if batch.images is None else batch.images.pin_memory(),
                has_text=batch.has_text.pin_memory(),
                has_image=batch.has_image.pin_memory(),
            )
        batch = batch.to(self.device, non_blocking=self._cuda)
        if batch.images is not None:
            if batch.images.dtype == torch.uint8:
                batch.images = normalize_images(batch.images)  # (N, 3, S, S) float32, on the device
            if self._cuda:
                batch.images = batch.images.contiguous(memory_format=torch.channels_last)
        return batch

    def _forward(self, batch: ModelBatch, posts: Sequence[PreparedPost]) -> torch.Tensor:
        """The network's eval forward (FusionClassifier.forward without training's dropout), with image
        features from the cache where the image was seen. -> logits (B, L)"""
        model = self.model
        image_feats = None
        if batch.images is not None and batch.images.shape[0] > 0:
            keys = [post.image_key for post in posts if post.image is not None]  # one per image row
            rows: list[torch.Tensor | None] = [self.features.get(key) for key in keys]
            # rows without features: one tower run per distinct image (a repost may repeat in a batch)
            ids: list[str | int] = [key if key is not None else i for i, key in enumerate(keys)]
            first_of: dict[str | int, int] = {}
            for i, row in enumerate(rows):
                if row is None:
                    first_of.setdefault(ids[i], i)
            if first_of:
                todo = list(first_of.values())
                fresh = model.encode_images(batch.images[todo])  # (N_new, image_dim)
                self._count_forwards(len(todo))
                for i, feats in zip(todo, fresh, strict=True):
                    self.features.put(keys[i], feats)
                    rows[i] = feats
                for i, row in enumerate(rows):
                    if row is None:
                        rows[i] = rows[first_of[ids[i]]]
            image_feats = torch.stack([row for row in rows if row is not None])  # (N_img, image_dim)
        text_rows = batch.has_text.nonzero().squeeze(1)  # (N_txt,)
        text_feats = None
        if text_rows.numel() > 0:
            text_feats = model.encode_texts(batch.input_ids[text_rows], batch.attention_mask[text_rows])
        return model.head(image_feats, text_feats, batch.has_image, batch.has_text)  # (B, L)

    def _count_forwards(self, n: int) -> None:
        self.image_forwards += n
        if self.on_image_forwards is not None:
            self.on_image_forwards(n)

    def predict(self, items: Sequence[tuple[str | None, bytes | None]]) -> list[Prediction]:
        return self.predict_prepared([self.prepare(text, image) for text, image in items])

    def smoke_test(self) -> None:
        """Score a text-only, an image-only and a text+image post before serving; raise ValueError unless
        every score of each is a finite probability (a checkpoint whose image tower gives NaN is refused)."""
        image = _smoke_image()
        posts = [("modstream smoke test", None), (None, image), ("modstream smoke test", image)]
        out = self.predict(posts)
        if len(out) != len(posts):
            raise ValueError(f"smoke test: {len(out)} predictions for {len(posts)} posts")
        for (text, img), prediction in zip(posts, out, strict=True):
            kind = "+".join(k for k, v in (("text", text), ("image", img)) if v is not None)
            bad = {k: v for k, v in prediction.scores.items() if not (math.isfinite(v) and 0.0 <= v <= 1.0)}
            if bad or set(prediction.scores) != set(self.labels):
                raise ValueError(f"smoke test: the {kind} post scores {bad or prediction.scores!r}")

    def _prediction(self, row: list[float]) -> Prediction:
        scores = dict(zip(self.labels, row, strict=True))
        return Prediction(
            scores=scores,
            top=top_k(scores, 3),
            flagged=is_flagged(scores, self.thresholds, self.benign_label),
        )


def _smoke_image() -> bytes:
    """A small generated PNG (a colour gradient), so the image tower runs on real decoded pixels."""
    from PIL import Image

    size = 48
    image = Image.new("RGB", (size, size))
    image.putdata([(x * 5, y * 5, (x + y) * 2) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
