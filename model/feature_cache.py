"""The image tower's output, cached by the image bytes' sha256: a viral image reposted with new text runs only
the text tower and the head.

    >>> cache = FeatureCache(max_items=4096)
    >>> cache.get("9f2c...")              # None: run the image tower, then
    >>> cache.put("9f2c...", feats[i])    # (image_dim,) tensor, kept on the model's device

One cache per `Predictor`, so one per model version: a hot swap starts a new, empty cache and never mixes
one version's features with another's head. Bounded (least recently used goes first) and thread-safe.
The key is the digest of the bytes as fetched, so two URLs serving one picture share an entry and a
picture swapped behind a URL does not.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch


class FeatureCache:
    def __init__(self, max_items: int) -> None:
        if max_items < 0:
            raise ValueError("max_items must be >= 0 (0 = off)")
        self.max_items = max_items
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> torch.Tensor | None:
        if key is None or self.max_items == 0:
            return None
        with self._lock:
            feats = self._items.get(key)
            if feats is not None:
                self._items.move_to_end(key)
            return feats

    def put(self, key: str | None, feats: torch.Tensor) -> None:
        if key is None or self.max_items == 0:
            return
        with self._lock:
            self._items[key] = feats.detach()
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
