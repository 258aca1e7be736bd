"""A checkpoint is a directory that carries everything needed to rebuild the model, offline:

    <dir>/weights.safetensors   the state dict (safetensors: tensors only, nothing executable)
    <dir>/metadata.json         format, version, model config, text-encoder config, labels,
                                thresholds, metrics, created_at, sha256 of every other file
    <dir>/tokenizer/            the tokenizer files (tokenizer.json, vocab, ...)

    >>> save_checkpoint(d, model, tokenizer_dir_or_textencoder=text, thresholds={}, version="v1", metrics={})
    >>> ckpt = load_checkpoint(path)           # -> Checkpoint(model (eval), text, config, thresholds, ...)

Loading never unpickles anything and needs no network: the text encoder is rebuilt from the
transformers config stored in metadata.json, the image tower with no weights, then the state dict
is loaded. A directory holding any pickle-type file (*.bin, *.pt, *.pth, *.pkl, *.pickle, *.ckpt)
is refused, and so is a file whose sha256 differs from the metadata, and any file the metadata
does not list (a planted tokenizer/added_tokens.json would change what the tokenizer does), with a
CheckpointError that names the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from model import durable
from model.config import ModelConfig
from model.network import FusionClassifier
from model.preprocess import TextEncoder

WEIGHTS = "weights.safetensors"
METADATA = "metadata.json"
TOKENIZER_DIR = "tokenizer"
FORMAT = "modstream-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"})
DEFAULT_THRESHOLD = 0.5


class CheckpointError(Exception):
    """A checkpoint directory that cannot or must not be loaded; the message says why."""


@dataclass
class Checkpoint:
    model: FusionClassifier  # in eval mode, on the requested device
    text: TextEncoder
    config: ModelConfig
    thresholds: dict[str, float]
    version: str
    metrics: dict[str, float]
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None


def save_checkpoint(
    directory: str | Path,
    model: FusionClassifier,
    *,
    tokenizer_dir_or_textencoder: str | Path | TextEncoder,
    thresholds: dict[str, float] | None,
    version: str,
    metrics: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint into `directory` (created; must be empty). Returns the directory."""
    out = Path(directory)
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f"{out} is not empty; a checkpoint is written into a fresh directory")
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    state = {name: tensor.detach().cpu().clone().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": FORMAT})
    _write_tokenizer(tokenizer_dir_or_textencoder, out / TOKENIZER_DIR)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "labels": list(config.labels),
        "benign_label": config.benign_label,
        "thresholds": complete_thresholds(thresholds, config.labels),
        "metrics": {name: float(value) for name, value in metrics.items()},
        "config": config.to_dict(),
        "text_config": model.text_encoder.config_dict(),
        "extra": extra or {},
        "files": {rel: sha256_file(out / rel) for rel in _payload_files(out)},
    }
    # atomic, not fsync'd: the registry fsyncs the whole directory before it publishes it
    durable.write_text(out / METADATA, json.dumps(metadata, indent=2, sort_keys=True), fsync=False)
    return out


def load_checkpoint(directory: str | Path, *, device: str | torch.device = "cpu") -> Checkpoint:
    path = Path(directory)
    meta = read_verified_metadata(path)
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / METADATA}: invalid model config: {exc}") from exc
    try:
        model = FusionClassifier(config, pretrained=False, text_config=meta["text_config"])
        model.load_state_dict(load_file(str(path / WEIGHTS), device="cpu"), strict=True)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored architecture: {exc}") from exc
    text = TextEncoder.from_dir(path / TOKENIZER_DIR, config.max_length)
    vocab = int(model.text_encoder.encoder.config.vocab_size)
    if len(text.tokenizer) > vocab:
        raise CheckpointError(f"{path}: tokenizer has {len(text.tokenizer)} tokens, the encoder only {vocab}")
    model.to(device).eval()
    return Checkpoint(
        model=model,
        text=text,
        config=config,
        thresholds=complete_thresholds(meta.get("thresholds"), config.labels),
        version=str(meta.get("version", path.name)),
        metrics={name: float(value) for name, value in (meta.get("metrics") or {}).items()},
        path=path,
        extra=dict(meta.get("extra") or {}),
        created_at=meta.get("created_at"),
    )


def read_verified_metadata(path: Path) -> dict[str, Any]:
    """metadata.json, after refusing pickles and checking every listed file's sha256."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint directory")
    pickles = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"refusing {path}: it holds pickle-type files {pickles}; checkpoints are safetensors + JSON only"
        )
    try:
        meta: dict[str, Any] = json.loads((path / METADATA).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} has no {METADATA}") from exc
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / METADATA} is unreadable: {exc}") from exc
    if meta.get("format") != FORMAT or not isinstance(meta.get("format_version"), int):
        raise CheckpointError(f"{path / METADATA} is not a {FORMAT} file")
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {meta['format_version']} is newer than this code")
    files = meta.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        raise CheckpointError(f"{path / METADATA} lists no sha256 for {WEIGHTS}")
    unlisted = sorted(set(_entries(path)) - set(files) - {METADATA})
    if unlisted:  # e.g. an added_tokens.json the tokenizer would pick up unchecked
        raise CheckpointError(f"refusing {path}: files not listed in {METADATA}: {unlisted[:10]}")
    for rel, expected in sorted(files.items()):
        target = path / rel
        if not target.resolve().is_relative_to(path.resolve()):
            raise CheckpointError(f"{path / METADATA} names a file outside the checkpoint: {rel}")
        if not target.is_file():
            raise CheckpointError(f"{path}: {rel} is missing")
        actual = sha256_file(target)
        if actual != expected:
            raise CheckpointError(
                f"{path}: {rel} has sha256 {actual}, metadata says {expected}: "
                "the file was modified or corrupted"
            )
    return meta


def complete_thresholds(thresholds: dict[str, float] | None, labels: tuple[str, ...]) -> dict[str, float]:
    """One threshold per label (0.5 where none is given); unknown labels and values outside 0..1 refused."""
    given = dict(thresholds or {})
    unknown = set(given) - set(labels)
    if unknown:
        raise CheckpointError(f"thresholds for unknown labels {sorted(unknown)}")
    out = {label: float(given.get(label, DEFAULT_THRESHOLD)) for label in labels}
    bad = {label: value for label, value in out.items() if not 0.0 <= value <= 1.0}
    if bad:
        raise CheckpointError(f"thresholds outside [0, 1]: {bad}")
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _payload_files(directory: Path) -> list[str]:
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and p.name != METADATA and not p.name.startswith(".")
    )


def _entries(directory: Path) -> list[str]:
    """Every non-directory entry under `directory` (hidden files, symlinks and special files included),
    relative, "/"-separated. Symlinked directories are entries, never followed."""
    out = []
    for parent, dirnames, filenames in os.walk(directory, followlinks=False):
        base = Path(parent)
        links = [name for name in dirnames if (base / name).is_symlink()]
        for name in filenames + links:
            out.append((base / name).relative_to(directory).as_posix())
    return out


def _write_tokenizer(source: str | Path | TextEncoder, target: Path) -> None:
    """Save the tokenizer in its canonical form (tokenizer.json + config) under `target`."""
    encoder = source if isinstance(source, TextEncoder) else TextEncoder.from_dir(source, max_length=512)
    encoder.save(target)
