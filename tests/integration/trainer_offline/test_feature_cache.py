"""Frozen encoders: a retrain reuses the features cached by the previous run, and computes only new ones."""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open

from events.settings import TrainerSettings
from model.config import ModelConfig
from trainer.dataset import Dataset
from trainer.run import train_candidate
from trainer.synthetic_data import synthetic_dataset
from trainer.training import TrainConfig


def _shards(settings: TrainerSettings) -> set[Path]:
    return set((settings.data_dir / "feature-cache").glob("*/shard-*.safetensors"))


def _rows(shards: set[Path]) -> int:
    total = 0
    for path in shards:
        with safe_open(str(path), framework="pt") as f:
            total += int(f.get_slice("features").get_shape()[0])
    return total


def _train(ds: Dataset, work: Path, settings: TrainerSettings, config: ModelConfig) -> None:
    train_candidate(
        ds,
        preset="tiny",
        work_dir=work,
        settings=settings,
        device="cpu",
        progress=False,
        model_config=config,
        pretrained=False,
        train_config=TrainConfig.for_mode("frozen", epochs=1, seed=settings.seed),
    )


def test_retrain_reuses_cached_features(
    synthetic: Dataset, tmp_path: Path, trainer_settings: TrainerSettings, tiny_config: ModelConfig
) -> None:
    _train(synthetic, tmp_path / "run1", trainer_settings, tiny_config)
    first = _shards(trainer_settings)
    assert _rows(first) == 2 * 600  # every post's text and image features, once

    _train(synthetic, tmp_path / "run2", trainer_settings, tiny_config)
    assert _shards(trainer_settings) == first  # nothing recomputed

    more = synthetic_dataset(tmp_path / "more", n=20, seed=99)
    grown = Dataset(synthetic.labels, synthetic.benign_label, synthetic.examples + more.examples)
    _train(grown, tmp_path / "run3", trainer_settings, tiny_config)
    assert _rows(_shards(trainer_settings) - first) == 2 * 20  # only the new posts' text and image features
