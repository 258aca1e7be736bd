"""The fused model beats text-only and image-only models when labels need both modalities.

Tiny preset, random-init encoders kept frozen, head trained on cached features: the text tower's
features carry the keyword and the image tower's the colour, and only the pair decides the labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from events.settings import TrainerSettings
from model.config import ModelConfig
from trainer.dataset import Dataset
from trainer.run import train_candidate
from trainer.training import TrainConfig

MARGIN = 0.2  # measured: fused 0.841, text 0.466, image 0.528 (micro-F1 on the test split)


def _micro_f1(
    ds: Dataset,
    keep: Literal["both", "text", "image"],
    tmp_path: Path,
    settings: TrainerSettings,
    config: ModelConfig,
) -> float:
    candidate = train_candidate(
        ds,
        preset="tiny",
        work_dir=tmp_path / keep,
        settings=settings,
        device="cpu",
        progress=False,
        modality=keep,
        model_config=config,
        pretrained=False,
        train_config=TrainConfig.for_mode("frozen", epochs=40, batch_size=32, seed=settings.seed),
    )
    return float(candidate.metrics["micro_f1"])


def test_fused_beats_each_single_modality(
    synthetic: Dataset, tmp_path: Path, trainer_settings: TrainerSettings, tiny_config: ModelConfig
) -> None:
    fused = _micro_f1(synthetic, "both", tmp_path, trainer_settings, tiny_config)
    text = _micro_f1(synthetic, "text", tmp_path, trainer_settings, tiny_config)
    image = _micro_f1(synthetic, "image", tmp_path, trainer_settings, tiny_config)
    print(f"synthetic test micro-F1: fused {fused:.3f}, text-only {text:.3f}, image-only {image:.3f}")
    assert fused >= max(text, image) + MARGIN
