"""Fixtures of the offline trainer tests: a synthetic multimodal data set and fast settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from events.settings import TrainerSettings
from model.config import ModelConfig
from trainer.dataset import Dataset
from trainer.synthetic_data import synthetic_dataset


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine: one intra-op thread is ~7x faster than two contending."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """600 posts whose labels need both the colour of the image and the keyword of the text."""
    return synthetic_dataset(tmp_path_factory.mktemp("synthetic"), n=600, seed=1)


@pytest.fixture
def trainer_settings(tmp_path: Path) -> TrainerSettings:
    return TrainerSettings(data_dir=tmp_path / "trainer", preset="tiny", holdout_fraction=0.3, seed=13)


@pytest.fixture
def tiny_config() -> ModelConfig:
    """The tiny preset at 64x64 pixels: the synthetic images are flat colours, and CPU time is short."""
    return dataclasses.replace(ModelConfig.tiny(), image_size=64)
