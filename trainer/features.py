"""On-disk cache of frozen-encoder features, so head-only retraining skips the encoders.

    root/<identity>/index.json              {content_key: [shard, row]}
    root/<identity>/shard-00003.safetensors {"features": (n, D) float32}

`identity` names one tower exactly: its config fields and a digest of its weights, so a different
encoder (or a differently initialised tiny one) never reads another's features. The content key is
a digest of the text (text tower) or of the image file's path, size and mtime (image tower), so an
edited post is recomputed. New features are written shard by shard (write, then atomically replace
the index), so an interrupted extraction keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from model import durable

log = logging.getLogger(__name__)


def tower_identity(tower: nn.Module, description: dict[str, object]) -> str:
    """sha256 of the tower's description and every tensor of its state (weights and buffers)."""
    h = hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode())
    for name, tensor in sorted(tower.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def text_key(text: str) -> str:
    return hashlib.sha256(b"text\0" + text.encode("utf-8")).hexdigest()


def image_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"image\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()


class FeatureStore:
    """Features of one tower (one identity), looked up by content key."""

    def __init__(self, root: Path, identity: str) -> None:
        self.dir = Path(root) / identity[:32]
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index_path = self.dir / "index.json"
        self._index: dict[str, list[int]] = {}
        if self._index_path.is_file():
            self._index = json.loads(self._index_path.read_text())
        self._shards: dict[int, torch.Tensor] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def missing(self, keys: Sequence[str]) -> list[str]:
        seen: set[str] = set()
        out = []
        for key in keys:
            if key not in self._index and key not in seen:
                seen.add(key)
                out.append(key)
        return out

    def put(self, keys: Sequence[str], features: torch.Tensor) -> None:
        """Store one shard: features (len(keys), D)."""
        if len(keys) != features.shape[0]:
            raise ValueError(f"{len(keys)} keys for {features.shape[0]} feature rows")
        shard = 1 + max((entry[0] for entry in self._index.values()), default=0)
        save_file({"features": features.detach().float().cpu().contiguous()}, str(self._shard_path(shard)))
        for row, key in enumerate(keys):
            self._index[key] = [shard, row]
        # a cache that can be rebuilt: atomic is enough, no fsync (as before)
        durable.write_text(self._index_path, json.dumps(self._index), fsync=False)

    def get(self, keys: Sequence[str]) -> torch.Tensor:
        """Features (len(keys), D) in the order asked; every key must be present."""
        rows = []
        for key in keys:
            shard, row = self._index[key]
            if shard not in self._shards:
                self._shards[shard] = load_file(str(self._shard_path(shard)))["features"]
            rows.append(self._shards[shard][row])
        return torch.stack(rows) if rows else torch.zeros((0, 0))

    def _shard_path(self, shard: int) -> Path:
        return self.dir / f"shard-{shard:05d}.safetensors"


def fill_store(
    store: FeatureStore,
    keys: Sequence[str],
    compute: Callable[[list[int]], torch.Tensor],
    *,
    batch_size: int,
    shard_rows: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Compute the features of every key the store lacks. `compute(indices into keys)` -> (n, D).

    Returns how many were computed. Keys are visited in the given order (callers sort texts by
    length so each batch pads little).
    """
    todo = set(store.missing(keys))
    order: list[int] = []
    for i, key in enumerate(keys):
        if key in todo:
            order.append(i)
            todo.discard(key)
    done = 0
    pending_keys: list[str] = []
    pending: list[torch.Tensor] = []
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        pending.append(compute(chunk).detach().float().cpu())
        pending_keys.extend(keys[i] for i in chunk)
        done += len(chunk)
        if progress is not None:
            progress(len(chunk))
        if len(pending_keys) >= shard_rows:
            store.put(pending_keys, torch.cat(pending))
            pending_keys, pending = [], []
    if pending_keys:
        store.put(pending_keys, torch.cat(pending))
    if done:
        log.info("feature cache %s: computed %d, now holds %d", store.dir, done, len(store))
    return done
