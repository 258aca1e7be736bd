"""`FusionClassifier`: image tower + text tower -> concatenation -> head -> one logit per label.

    >>> model = FusionClassifier(ModelConfig.tiny(), pretrained=False).eval()
    >>> logits = model(collate(posts, pad_id))          # (B, L)
    >>> scores = torch.sigmoid(logits)                   # independent per label, per post

Never a softmax across the batch: a post's scores depend on that post alone (the code this
project grew from normalised over the batch dimension; tests pin this down).

A missing modality is first-class: a post without an image (or text) gets a learned placeholder
vector in place of that tower's features. During training, `modality_dropout` hides one of the two
modalities of a post at random so the head learns to score either alone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from model.config import ModelConfig
from model.preprocess import ModelBatch
from model.towers import ImageTower, TextTower


class FusionClassifier(nn.Module):
    def __init__(
        self, config: ModelConfig, *, pretrained: bool = True, text_config: dict[str, Any] | None = None
    ) -> None:
        """pretrained=False: random init everywhere (no download). text_config: rebuild the text
        encoder from a stored transformers config (checkpoint loading) instead of `config.text_encoder`."""
        super().__init__()
        self.config = config
        self.image_encoder = ImageTower(config.image_encoder, config.image_weights, pretrained=pretrained)
        self.text_encoder = TextTower(
            config.text_encoder, config.text_pooling, pretrained=pretrained, text_config=text_config
        )
        self.image_dim = self.image_encoder.out_features
        self.text_dim = self.text_encoder.out_features
        # Per-modality normalisation puts ResNet's unbounded features and BERT's on one scale.
        self.image_norm = nn.LayerNorm(self.image_dim)
        self.text_norm = nn.LayerNorm(self.text_dim)
        self.image_placeholder = nn.Parameter(torch.randn(self.image_dim) * 0.02)
        self.text_placeholder = nn.Parameter(torch.randn(self.text_dim) * 0.02)
        self.classifier = nn.Sequential(
            nn.Linear(self.image_dim + self.text_dim, config.hidden_dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_dim, len(config.labels)),
        )
        self._frozen_image = False
        self._frozen_text = False

    # -- towers ----------------------------------------------------------------------------------
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(images)  # (N, 3, S, S) -> (N, image_dim)

    def encode_texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, attention_mask)  # (N, T) -> (N, text_dim)

    def head(
        self,
        image_feats: torch.Tensor | None,
        text_feats: torch.Tensor | None,
        has_image: torch.Tensor,
        has_text: torch.Tensor,
    ) -> torch.Tensor:
        """Fuse and classify. image_feats holds one row per True in has_image, in batch order
        (likewise text_feats / has_text); a missing row takes the learned placeholder. -> (B, L)"""
        image = self._fill(image_feats, has_image, self.image_placeholder, self.image_norm)  # (B, Di)
        text = self._fill(text_feats, has_text, self.text_placeholder, self.text_norm)  # (B, Dt)
        return self.classifier(torch.cat([image, text], dim=1))  # (B, L)

    @staticmethod
    def _fill(
        feats: torch.Tensor | None, present: torch.Tensor, placeholder: torch.Tensor, norm: nn.Module
    ) -> torch.Tensor:
        batch = int(present.shape[0])
        out = placeholder.unsqueeze(0).expand(batch, -1).clone()  # (B, D)
        if feats is not None and feats.shape[0] > 0:
            if feats.shape[0] != int(present.sum()):
                raise ValueError(f"{feats.shape[0]} feature rows for {int(present.sum())} present posts")
            normed = norm(feats)
            out[present] = normed.to(out.dtype)
        return out

    def forward(self, batch: ModelBatch, modality_dropout: float = 0.0) -> torch.Tensor:
        """Logits (B, L). Sigmoid them for scores; never softmax across the batch."""
        has_image, has_text = batch.has_image, batch.has_text
        images = batch.images
        text_rows = has_text.nonzero().squeeze(1)  # (N_txt,)
        if self.training and modality_dropout > 0:
            drop_image, drop_text = self._modality_dropout(has_image, has_text, modality_dropout)
            if images is not None:
                images = images[~drop_image[has_image]]
            has_image = has_image & ~drop_image
            has_text = has_text & ~drop_text
            text_rows = has_text.nonzero().squeeze(1)
        image_feats = self.encode_images(images) if images is not None and images.shape[0] > 0 else None
        text_feats = None
        if text_rows.numel() > 0:
            text_feats = self.encode_texts(batch.input_ids[text_rows], batch.attention_mask[text_rows])
        return self.head(image_feats, text_feats, has_image, has_text)

    @staticmethod
    def _modality_dropout(
        has_image: torch.Tensor, has_text: torch.Tensor, p: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For posts with both modalities: with probability p/2 hide the image, p/2 hide the text."""
        both = has_image & has_text
        draw = torch.rand(has_image.shape[0], device=has_image.device)
        drop_image = both & (draw < p / 2)
        drop_text = both & (draw >= p / 2) & (draw < p)
        return drop_image, drop_text

    # -- fine-tuning -----------------------------------------------------------------------------
    def freeze_encoders(self, trainable_text_layers: int = 0, train_image: bool = False) -> None:
        """Freeze the towers, leaving the last `trainable_text_layers` transformer layers (and the
        pooler) and, if `train_image`, the image tower trainable. Fully frozen towers stay in eval
        mode (no dropout, fixed BatchNorm statistics) even when the model is put in train mode."""
        for param in self.text_encoder.parameters():
            param.requires_grad = False
        if trainable_text_layers > 0:
            layers = getattr(getattr(self.text_encoder.encoder, "encoder", None), "layer", None)
            if layers is None:
                raise ValueError("this text encoder has no .encoder.layer list to unfreeze")
            for layer in list(layers)[-trainable_text_layers:]:
                for param in layer.parameters():
                    param.requires_grad = True
            pooler = getattr(self.text_encoder.encoder, "pooler", None)
            if pooler is not None:
                for param in pooler.parameters():
                    param.requires_grad = True
        for param in self.image_encoder.parameters():
            param.requires_grad = train_image
        self._frozen_text = trainable_text_layers <= 0
        self._frozen_image = not train_image
        self.train(self.training)

    def train(self, mode: bool = True) -> FusionClassifier:
        super().train(mode)
        if self._frozen_image:
            self.image_encoder.eval()
        if self._frozen_text:
            self.text_encoder.eval()
        return self

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part: image tower, text tower, head (norms, placeholders, classifier), total."""
        image = sum(p.numel() for p in self.image_encoder.parameters())
        text = sum(p.numel() for p in self.text_encoder.parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"image_tower": image, "text_tower": text, "head": total - image - text, "total": total}
