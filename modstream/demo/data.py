"""The demo's data: posts whose labels need both the image and the text, with a known truth.

Built on model.synthetic's world (a dominant image colour x a keyword in the text decides the labels,
see its RULES table). The story the demo tells:

- the first model is trained on historical data in which one combination, blue + "stone", was
  labelled benign (a new kind of abuse nobody had flagged yet): its BLIND SPOT;
- the live stream follows the true rules, so that model misses blue + "stone" posts;
- moderators send their decisions (the truth) as feedback; the trainer learns from them, the new
  version beats the old one on the same held-out feedback, is promoted, and the consumers swap to it.

Everything is deterministic for a seed. Image bytes live in an `ImageStore` that the demo's loopback
HTTP server serves, so posts carry real `image_url`s that go through the consumer's hardened fetcher.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS, multi_hot
from model.synthetic import COLOURS, FILLER, KEYWORDS, RULES
from trainer.dataset import Dataset, Example

LABELS = DEFAULT_LABELS
BENIGN = DEFAULT_BENIGN

BLIND_SPOT = ("blue", "stone")
DEMO_MODERATORS = 8  # moderator ids the demo signs its decisions with
Kind = Literal["both", "text", "image", "broken_image", "invalid"]


@dataclass(frozen=True)
class DemoPost:
    post_id: str
    kind: Kind
    colour: str
    keyword: str
    text: str | None
    image: str | None  # file name on the image server; None = no image
    truth: tuple[str, ...]  # the true label set (the benign label alone when benign)

    def wire(self, base_url: str) -> bytes:
        """The Kafka message value: a Post, or deliberately broken bytes for kind == "invalid"."""
        if self.kind == "invalid":
            return b'{"post_id": "' + self.post_id.encode() + b'", "text": '  # truncated JSON
        post: dict[str, str] = {"post_id": self.post_id}
        if self.text is not None:
            post["text"] = self.text
        if self.image is not None:
            post["image_url"] = f"{base_url}/img/{self.image}"
        return json.dumps(post).encode()

    def feedback(self, base_url: str) -> bytes:
        """A moderator's decision on this post (the truth), as a Feedback event."""
        moderator = hashlib.sha256(self.post_id.encode()).digest()[0] % DEMO_MODERATORS
        event = {
            "post_id": self.post_id,
            "labels": list(self.truth),
            "text": self.text,
            "image_url": f"{base_url}/img/{self.image}" if self.image else None,
            # eight moderators share the work, so no one is over the retrain's per-moderator cap
            "moderator_id": f"demo-moderator-{moderator}",
        }
        return json.dumps(event).encode()

    @property
    def in_blind_spot(self) -> bool:
        return (self.colour, self.keyword) == BLIND_SPOT


@dataclass
class ImageStore:
    """name -> PNG bytes; the demo image server serves these, anything else is a 404."""

    images: dict[str, bytes] = field(default_factory=dict)

    def add(self, name: str, png: bytes) -> str:
        self.images[name] = png
        return name


class DemoWorld:
    """Deterministic generator of demo posts, their images and the first model's training data."""

    def __init__(self, seed: int = 7, image_side: int = 48) -> None:
        self._rng = random.Random(seed)
        self._noise = np.random.default_rng(seed)
        self._side = image_side
        self._count = 0
        self.store = ImageStore()

    def _pick(self) -> tuple[str, str]:
        return self._rng.choice(sorted(COLOURS)), self._rng.choice(KEYWORDS)

    def _text(self, keyword: str) -> str:
        words = [self._rng.choice(FILLER) for _ in range(self._rng.randint(3, 10))]
        words.insert(self._rng.randint(0, len(words)), keyword)
        return " ".join(words)

    def _png(self, colour: str) -> bytes:
        base = np.array(COLOURS[colour], dtype=np.int16)
        pixels = base + self._noise.integers(-35, 36, size=(self._side, self._side, 3), dtype=np.int16)
        buf = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    def post(self, kind: Kind = "both", prefix: str = "post") -> DemoPost:
        self._count += 1
        post_id = f"{prefix}-{self._count:05d}"
        colour, keyword = self._pick()
        truth = RULES[colour, keyword]
        text = None if kind == "image" else self._text(keyword)
        image: str | None = None
        if kind in ("both", "image"):
            image = self.store.add(f"{post_id}.png", self._png(colour))
        elif kind == "broken_image":
            image = f"{post_id}-gone.png"  # never stored: the server answers 404
        return DemoPost(post_id, kind, colour, keyword, text, image, truth)

    def repost(self, original: DemoPost) -> DemoPost:
        """The same content under a new post id (a share): a cache hit for the consumer."""
        self._count += 1
        return DemoPost(
            f"repost-{self._count:05d}",
            original.kind,
            original.colour,
            original.keyword,
            original.text,
            original.image,
            original.truth,
        )

    def stream(self, n: int, prefix: str = "post") -> list[DemoPost]:
        """`n` posts, mostly text + image, with a few of every other kind mixed in."""
        extras: list[Kind] = ["text", "text", "image", "broken_image", "invalid"]
        per_extra = max(1, n // 40)
        kinds: list[Kind] = [k for k in extras for _ in range(per_extra)]
        kinds += ["both"] * max(0, n - len(kinds))
        self._rng.shuffle(kinds)
        return [self.post(kind, prefix) for kind in kinds]

    def training_set(self, directory: Path, n: int) -> tuple[Dataset, int]:
        """The first model's historical data, with the blind spot labelled benign.

        Returns the data set (images written under `directory`) and how many rows were mislabelled."""
        directory.mkdir(parents=True, exist_ok=True)
        examples = []
        mislabelled = 0
        for i in range(n):
            colour, keyword = self._pick()
            labels = RULES[colour, keyword]
            if (colour, keyword) == BLIND_SPOT:
                labels, mislabelled = (BENIGN,), mislabelled + 1
            path = directory / f"hist-{i:05d}.png"
            path.write_bytes(self._png(colour))
            targets = tuple(multi_hot(list(labels), LABELS, BENIGN))
            examples.append(
                Example(key=f"hist-{i:05d}", text=self._text(keyword), image_path=path, targets=targets)
            )
        return Dataset(labels=LABELS, benign_label=BENIGN, examples=examples), mislabelled
