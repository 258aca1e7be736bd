"""train_and_maybe_promote on a real registry: promote, refuse a worse candidate, an allowed label change."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.settings import TrainerSettings
from model.checkpoint import load_checkpoint
from model.config import ModelConfig
from model.registry import ModelRegistry
from trainer.dataset import Dataset, Example
from trainer.run import TrainOutcome, train_and_maybe_promote
from trainer.training import TrainConfig


def _run(
    ds: Dataset,
    registry: ModelRegistry,
    work: Path,
    settings: TrainerSettings,
    config: ModelConfig,
    epochs: int,
) -> TrainOutcome:
    return train_and_maybe_promote(
        ds,
        registry=registry,
        preset="tiny",
        work_dir=work,
        settings=settings,
        device="cpu",
        progress=False,
        model_config=config,
        pretrained=False,
        train_config=TrainConfig.for_mode("frozen", epochs=epochs, batch_size=32, seed=settings.seed),
    )


def test_promote_then_refuse_a_worse_candidate_then_accept_a_new_label_set(
    synthetic: Dataset, tmp_path: Path, trainer_settings: TrainerSettings, tiny_config: ModelConfig
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    first = _run(synthetic, registry, tmp_path / "w1", trainer_settings, tiny_config, epochs=40)
    assert first.promoted and first.version == registry.current()
    assert first.current_metrics is None and "no current version" in first.reason
    ckpt = load_checkpoint(registry.path(first.version))
    assert ckpt.metrics["macro_f1"] == pytest.approx(first.candidate_metrics["macro_f1"])
    assert ckpt.thresholds == {k: v["threshold"] for k, v in first.report["per_label"].items()}
    assert len(set(ckpt.thresholds.values())) > 1  # chosen on val, not the 0.5 default

    worse = _run(synthetic, registry, tmp_path / "w2", trainer_settings, tiny_config, epochs=1)
    assert not worse.promoted and worse.version is None
    assert registry.current() == first.version and registry.versions() == [first.version]
    # the serving version was scored through the Predictor on the same test examples
    assert worse.current_metrics is not None
    assert worse.current_metrics["macro_f1"] == pytest.approx(first.candidate_metrics["macro_f1"], abs=0.02)
    assert worse.current_metrics["n_examples"] == first.candidate_metrics["n_examples"]
    assert worse.candidate_metrics["macro_f1"] < worse.current_metrics["macro_f1"]

    binary = Dataset(
        labels=("NotHate", "Hate"),
        benign_label="NotHate",
        examples=[
            Example(e.key, e.text, e.image_path, (e.targets[0], float(max(e.targets[1:]))))
            for e in synthetic.examples
        ],
    )
    allowed = trainer_settings.model_copy(update={"allow_label_change": True})
    third = _run(binary, registry, tmp_path / "w3", allowed, tiny_config, epochs=5)
    assert third.promoted and "label set changes" in third.reason
    assert load_checkpoint(registry.path(registry.current() or "")).config.labels == ("NotHate", "Hate")
