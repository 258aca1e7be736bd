"""A small synthetic multimodal data set whose labels need BOTH the image and the text.

Each post has a dominant image colour (red / green / blue) and one keyword in its text
(apple / river / stone) among filler words. The labels are a function of the PAIR; no label can be
told from one modality alone (every label occurs with two colours and two keywords, or is benign):

            apple        river        stone
    red     Racist       Religion     NotHate
    green   NotHate      Sexist       Homophobe
    blue    OtherHate    NotHate      Racist + OtherHate

Used by the unit tests ("the tiny preset learns"), the trainer's tests and the offline demo.

    >>> text, png_bytes, labels = make_synthetic(100, seed=1)[0]
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 60, 200),
}
KEYWORDS = ("apple", "river", "stone")
RULES: dict[tuple[str, str], tuple[str, ...]] = {
    ("red", "apple"): ("Racist",),
    ("red", "river"): ("Religion",),
    ("red", "stone"): ("NotHate",),
    ("green", "apple"): ("NotHate",),
    ("green", "river"): ("Sexist",),
    ("green", "stone"): ("Homophobe",),
    ("blue", "apple"): ("OtherHate",),
    ("blue", "river"): ("NotHate",),
    ("blue", "stone"): ("Racist", "OtherHate"),
}
# fmt: off
FILLER = (
    "the", "a", "today", "we", "they", "people", "this", "that", "look", "at", "my", "new", "photo", "post",
    "from", "here", "again", "what", "about", "really", "just", "some", "more", "time", "city", "night",
    "morning", "friends", "weekend",
)
# fmt: on

SyntheticPost = tuple[str, bytes, list[str]]


def make_synthetic(n: int, seed: int = 0, image_side: int = 48) -> list[SyntheticPost]:
    """`n` posts as (text, PNG bytes, label names), deterministic for a given seed."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    posts: list[SyntheticPost] = []
    for _ in range(n):
        colour = rng.choice(sorted(COLOURS))
        keyword = rng.choice(KEYWORDS)
        posts.append(
            (_text(rng, keyword), _png(noise, COLOURS[colour], image_side), list(RULES[colour, keyword]))
        )
    return posts


def _text(rng: random.Random, keyword: str) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
    words.insert(rng.randint(0, len(words)), keyword)
    return " ".join(words)


def _png(noise: np.random.Generator, colour: tuple[int, int, int], side: int) -> bytes:
    base = np.array(colour, dtype=np.int16)
    pixels = base + noise.integers(-35, 36, size=(side, side, 3), dtype=np.int16)  # (side, side, 3)
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
