"""Shared, session-scoped tiny model pieces for the model/ unit tests (built once: CPU time is scarce)."""

from __future__ import annotations

import pytest
import torch

from model.checkpoint import Checkpoint
from model.config import ModelConfig
from model.network import FusionClassifier
from model.preprocess import TextEncoder


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    return ModelConfig.tiny()


@pytest.fixture(scope="session")
def text_encoder(tiny_config: ModelConfig) -> TextEncoder:
    return TextEncoder.from_dir(tiny_config.tokenizer_source, tiny_config.max_length)


@pytest.fixture()
def tiny_model(tiny_config: ModelConfig) -> FusionClassifier:
    torch.manual_seed(1234)
    return FusionClassifier(tiny_config, pretrained=False).eval()


@pytest.fixture()
def tiny_checkpoint(
    tiny_model: FusionClassifier, text_encoder: TextEncoder, tmp_path_factory: pytest.TempPathFactory
) -> Checkpoint:
    """An in-memory checkpoint (not saved) of a random tiny model."""
    return Checkpoint(
        model=tiny_model,
        text=text_encoder,
        config=tiny_model.config,
        thresholds={label: 0.5 for label in tiny_model.config.labels},
        version="test-v1",
        metrics={},
        path=tmp_path_factory.mktemp("unsaved"),
    )
