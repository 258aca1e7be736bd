"""Training interrupted after an epoch resumes from its saved state and ends with identical weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from events.settings import TrainerSettings
from model.config import ModelConfig
from trainer.dataset import Dataset
from trainer.run import Candidate, train_candidate
from trainer.state import state_dir
from trainer.training import EncoderMode, Interrupted, TrainConfig


def _train(
    ds: Dataset,
    work: Path,
    settings: TrainerSettings,
    config: ModelConfig,
    mode: EncoderMode,
    stop_after: int | None,
) -> Candidate:
    def crash(epoch: int) -> None:
        if stop_after is not None and epoch == stop_after:
            raise Interrupted(f"simulated crash after epoch {epoch}")

    return train_candidate(
        ds,
        preset="tiny",
        work_dir=work,
        settings=settings,
        device="cpu",
        progress=False,
        model_config=config,
        pretrained=False,
        train_config=TrainConfig.for_mode(mode, epochs=4, batch_size=32, seed=settings.seed, encoder_lr=1e-3),
        on_epoch_end=crash,
    )


@pytest.mark.parametrize("mode", ["frozen", "full"])
def test_restart_resumes_and_matches_an_uninterrupted_run(
    mode: EncoderMode,
    synthetic: Dataset,
    tmp_path: Path,
    trainer_settings: TrainerSettings,
    tiny_config: ModelConfig,
) -> None:
    data = (
        synthetic
        if mode == "frozen"
        else Dataset(synthetic.labels, synthetic.benign_label, synthetic.examples[:160])
    )
    with pytest.raises(Interrupted):
        _train(data, tmp_path / "a", trainer_settings, tiny_config, mode, stop_after=2)
    saved = list((tmp_path / "a" / "state").iterdir())
    assert len(saved) == 1 and (saved[0] / "progress.json").is_file()

    resumed = _train(data, tmp_path / "a", trainer_settings, tiny_config, mode, stop_after=None)
    assert [h["epoch"] for h in resumed.history] == [3, 4]  # not started over
    assert not state_dir(tmp_path / "a", saved[0].name).exists()  # cleared once finished

    straight = _train(data, tmp_path / "b", trainer_settings, tiny_config, mode, stop_after=None)
    assert [h["epoch"] for h in straight.history] == [1, 2, 3, 4]
    a, b = resumed.model.state_dict(), straight.model.state_dict()
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    assert resumed.metrics == straight.metrics


def test_changed_data_does_not_resume(
    synthetic: Dataset, tmp_path: Path, trainer_settings: TrainerSettings, tiny_config: ModelConfig
) -> None:
    with pytest.raises(Interrupted):
        _train(synthetic, tmp_path / "w", trainer_settings, tiny_config, "frozen", stop_after=1)
    fewer = Dataset(synthetic.labels, synthetic.benign_label, synthetic.examples[:-10])
    fresh = _train(fewer, tmp_path / "w", trainer_settings, tiny_config, "frozen", stop_after=None)
    assert [h["epoch"] for h in fresh.history] == [1, 2, 3, 4]
