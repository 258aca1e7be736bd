"""The two encoders ("towers") of the fusion model, each exposing `out_features`.

- `ImageTower`: a torchvision classifier with its final Linear removed (ResNet-18: 512-d), or
  `TinyCNN` (3 strided convolutions + global average pooling) for tests and the demo.
- `TextTower`: a transformers encoder (BertModel) plus pooling: `pooler` (BERT's tanh([CLS])),
  `cls` (raw [CLS] state) or `mean` (mean over real tokens; padding never contributes).

Widths are read from the built encoders, never assumed. `pretrained=False` builds every tower from
its configuration alone with random weights: no network, no files beyond a local config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.config import TINY, resolve_local

# The `tiny` text encoder: bert-base-uncased's vocabulary, a 64-d, 2-layer, 2-head transformer.
TINY_BERT: dict[str, Any] = {
    "vocab_size": 30522,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
}


class TinyCNN(nn.Module):
    """A ~24k-parameter image tower (23,808 at the default width) that runs in milliseconds on a CPU core."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.AvgPool2d(4),  # (N, 3, S/4, S/4): a nearly free stem; colour and layout survive it
            nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1),  # (N, 16, S/8, S/8)
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),  # (N, 32, S/16, S/16)
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, width, kernel_size=3, stride=2, padding=1),  # (N, width, S/32, S/32)
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (N, width)
        )
        self.out_features = width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


class ImageTower(nn.Module):
    def __init__(self, name: str, weights: str | None, *, pretrained: bool) -> None:
        super().__init__()
        self.backbone: nn.Module
        if name == TINY:
            tiny = TinyCNN()
            self.backbone, self.out_features = tiny, tiny.out_features
            return
        import torchvision

        use_weights = weights if pretrained else None
        is_file = use_weights is not None and Path(use_weights).is_file()
        backbone = torchvision.models.get_model(name, weights=None if is_file else use_weights)
        if is_file:
            assert use_weights is not None
            backbone.load_state_dict(load_state_file(Path(use_weights)))
        self.out_features = strip_classifier(backbone)
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)  # (N, out_features)


def strip_classifier(model: nn.Module) -> int:
    """Replace a torchvision classifier's final Linear with Identity; return its input width."""
    for attr in ("fc", "classifier", "head", "heads"):
        layer = getattr(model, attr, None)
        if isinstance(layer, nn.Linear):
            setattr(model, attr, nn.Identity())
            return int(layer.in_features)
        if isinstance(layer, nn.Sequential):
            for index in range(len(layer) - 1, -1, -1):
                last = layer[index]
                if isinstance(last, nn.Linear):
                    width = int(last.in_features)
                    layer[index] = nn.Identity()
                    return width
    raise ValueError(f"cannot find the final Linear layer of {type(model).__name__}")


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a local file: safetensors, or a tensors-only torch file (never arbitrary pickles)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return state


class TextTower(nn.Module):
    def __init__(
        self, name: str, pooling: str, *, pretrained: bool, text_config: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if text_config is not None:
            self.encoder = AutoModel.from_config(AutoConfig.for_model(**text_config))
        elif name == TINY:
            from transformers import BertConfig

            self.encoder = AutoModel.from_config(BertConfig(**TINY_BERT))
        elif pretrained:
            self.encoder = AutoModel.from_pretrained(resolve_local(name))
        else:
            self.encoder = AutoModel.from_config(random_init_config(name))
        self.pooling = pooling
        self.out_features = int(self.encoder.config.hidden_size)

    def config_dict(self) -> dict[str, Any]:
        """The encoder's architecture, enough to rebuild it with no network (stored in checkpoints)."""
        data: dict[str, Any] = self.encoder.config.to_dict()
        return data

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            if out.pooler_output is None:
                raise ValueError("this text encoder has no pooler; use text_pooling='cls' or 'mean'")
            return out.pooler_output  # (N, H)
        hidden = out.last_hidden_state  # (N, T, H)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (N, T, 1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (N, H)


def random_init_config(name: str) -> Any:
    """The architecture of `name` without its weights: a local config.json, or bert-base defaults."""
    from transformers import AutoConfig, BertConfig

    local = Path(resolve_local(name))
    if (local / "config.json").is_file():
        return AutoConfig.from_pretrained(str(local))
    if name in ("bert-base-uncased", "bert-base-cased"):
        return BertConfig()  # the defaults ARE bert-base: 768-d, 12 layers, 12 heads
    return AutoConfig.from_pretrained(name)  # needs the hub
