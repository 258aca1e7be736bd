"""ModelConfig: presets, JSON round trip, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.config import ModelConfig
from model.labels import DEFAULT_LABELS, multi_hot


@pytest.mark.parametrize("name", ["tiny", "minilm", "base"])
def test_presets_round_trip_through_json(name: str) -> None:
    config = ModelConfig.preset(name, labels=("ok", "bad"), benign_label="ok")
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.labels == ("ok", "bad")


def test_base_is_the_production_model() -> None:
    base = ModelConfig.base()
    assert (base.text_encoder, base.text_pooling, base.image_encoder, base.image_weights) == (
        "bert-base-uncased",
        "pooler",
        "resnet18",
        "IMAGENET1K_V1",
    )
    assert base.labels == DEFAULT_LABELS and base.max_length == 128 and base.image_size == 224


def test_tiny_and_minilm_resolve_the_packaged_model_directory() -> None:
    for config in (ModelConfig.tiny(), ModelConfig.minilm()):
        assert (Path(config.tokenizer_source) / "tokenizer.json").is_file()


@pytest.mark.parametrize(
    "changes",
    [
        {"labels": ()},
        {"labels": ("a", "a")},
        {"benign_label": "Nope"},
        {"text_pooling": "max"},
        {"dropout": 1.0},
        {"max_length": 1},
    ],
)
def test_invalid_configs_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ModelConfig(**changes)  # type: ignore[arg-type]


def test_unknown_fields_and_presets_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "surprise": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        ModelConfig.preset("huge")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Racist"], [0, 1, 0, 0, 0, 0]),
        (["Racist", "Religion"], [0, 1, 0, 0, 1, 0]),
        ([], [1, 0, 0, 0, 0, 0]),  # no label = benign
        (["NotHate"], [1, 0, 0, 0, 0, 0]),
    ],
)
def test_multi_hot(names: list[str], expected: list[int]) -> None:
    assert multi_hot(names, DEFAULT_LABELS, "NotHate") == [float(v) for v in expected]


def test_multi_hot_refuses_unknown_labels() -> None:
    with pytest.raises(ValueError, match="unknown label"):
        multi_hot(["Racsit"], DEFAULT_LABELS, "NotHate")
