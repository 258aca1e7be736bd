"""The real pieces together, no services: a ModelManager over a ModelRegistry on disk, loading real tiny
checkpoints with Predictor.load. A version that fails to load (a file still missing on a lagging volume,
a file its metadata does not list) is refused, the old one keeps serving, and once the version is fixed
in place it is served after the backoff; only the fake clock moves."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from consumer.model_manager import Backoff, ModelManager
from model.checkpoint import TOKENIZER_DIR, WEIGHTS, save_checkpoint
from model.config import ModelConfig
from model.network import FusionClassifier
from model.predictor import Predictor
from model.preprocess import TextEncoder
from model.registry import ModelRegistry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def tiny() -> tuple[FusionClassifier, TextEncoder]:
    config = ModelConfig.tiny()
    torch.manual_seed(7)
    return FusionClassifier(config, pretrained=False).eval(), TextEncoder.from_dir(
        config.tokenizer_source, config.max_length
    )


def publish(registry: ModelRegistry, tiny: tuple[FusionClassifier, TextEncoder], name: str) -> Path:
    model, text = tiny
    registry.publish(
        lambda d: save_checkpoint(
            d, model, tokenizer_dir_or_textencoder=text, thresholds={}, version=name, metrics={}
        ),
        name,
    )
    return registry.path(name)


def break_by_missing_weights(directory: Path, aside: Path) -> None:
    shutil.move(directory / WEIGHTS, aside)  # the volume has not caught up with this file yet


def fix_missing_weights(directory: Path, aside: Path) -> None:
    shutil.move(aside, directory / WEIGHTS)


def break_by_unlisted_file(directory: Path, _aside: Path) -> None:
    (directory / TOKENIZER_DIR / "added_tokens.json").write_text('{"[EVIL]": 30000}', encoding="utf-8")


def fix_unlisted_file(directory: Path, _aside: Path) -> None:
    (directory / TOKENIZER_DIR / "added_tokens.json").unlink()


@pytest.mark.parametrize(
    ("breaks", "fixes", "why"),
    [
        (break_by_missing_weights, fix_missing_weights, "weights.safetensors is missing"),
        (break_by_unlisted_file, fix_unlisted_file, "not listed in metadata.json"),
    ],
    ids=["lagging-volume", "unlisted-file"],
)
def test_a_broken_version_fixed_in_place_is_served_after_the_backoff(
    tmp_path: Path,
    tiny: tuple[FusionClassifier, TextEncoder],
    breaks: Callable[[Path, Path], None],
    fixes: Callable[[Path, Path], None],
    why: str,
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    clock = FakeClock()
    refusals: list[str] = []
    manager: ModelManager[Predictor] = ModelManager(
        registry,
        load=lambda path: Predictor.load(path, device="cpu"),
        poll_interval_s=30,
        on_refused=lambda _v, exc: refusals.append(str(exc)),
        backoff=Backoff(initial_s=5, factor=2, max_s=60),
        clock=clock,
    )
    publish(registry, tiny, "v1")
    assert manager.check() is not None and manager.current is not None and manager.current.version == "v1"

    v2 = publish(registry, tiny, "v2")
    breaks(v2, tmp_path / "aside")
    manager.check()
    assert manager.current.version == "v1" and manager.refused == {"v2"}
    assert len(refusals) == 1 and why in refusals[0], refusals

    fixes(v2, tmp_path / "aside")
    clock.now = 4.0
    manager.check()  # fixed, but its backoff has not run out
    assert manager.current.version == "v1" and len(refusals) == 1
    clock.now = 5.0
    manager.check()
    assert manager.current.version == "v2" and manager.refused == frozenset()
    assert len(manager.current.predict([("served after the fix", None)])) == 1
