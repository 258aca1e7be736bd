"""Promotion is a compare-and-set against the serving model on the same data, and on a trusted eval set.

Real trainings of the tiny preset on the synthetic posts (labels need both the image's colour and the
text's keyword); real registries on disk; real threads racing on one registry.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import threading
from pathlib import Path

import pytest

from events.settings import TrainerSettings
from model.config import ModelConfig
from model.labels import DEFAULT_LABELS
from model.registry import ModelRegistry
from modstream.cli import main
from trainer.dataset import Dataset, Example
from trainer.eval_set import load_eval_set
from trainer.run import Candidate, TrainOutcome, promote_candidate, train_candidate
from trainer.synthetic_data import synthetic_dataset
from trainer.training import TrainConfig


def _train(ds: Dataset, work: Path, settings: TrainerSettings, config: ModelConfig, epochs: int) -> Candidate:
    return train_candidate(
        ds,
        preset="tiny",
        work_dir=work,
        settings=settings,
        device="cpu",
        progress=False,
        model_config=config,
        pretrained=False,
        train_config=TrainConfig.for_mode("frozen", epochs=epochs, batch_size=32, seed=settings.seed),
        exclude=load_eval_set(settings),
    )


def _promote(
    candidate: Candidate, ds: Dataset, registry: ModelRegistry, settings: TrainerSettings
) -> TrainOutcome:
    return promote_candidate(
        candidate,
        ds,
        registry=registry,
        preset="tiny",
        settings=settings,
        trusted=load_eval_set(settings),
        device="cpu",
    )


def _settings(tmp: Path, **more: object) -> TrainerSettings:
    return TrainerSettings(data_dir=tmp / "trainer", preset="tiny", holdout_fraction=0.3, seed=13, **more)


@pytest.fixture(scope="module")
def tiny() -> ModelConfig:
    return dataclasses.replace(ModelConfig.tiny(), image_size=64)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return synthetic_dataset(tmp_path_factory.mktemp("clean"), n=600, seed=1)


@pytest.fixture(scope="module")
def trained(
    clean: Dataset, tiny: ModelConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Candidate, Candidate]:
    """(good, poor): 40 epochs and 1 epoch on the same data."""
    tmp = tmp_path_factory.mktemp("trained")
    settings = _settings(tmp)
    good = _train(clean, tmp / "good", settings, tiny, epochs=40)
    poor = _train(clean, tmp / "poor", settings, tiny, epochs=1)
    print(f"good macro F1 {good.metrics['macro_f1']:.4f}, poor {poor.metrics['macro_f1']:.4f}")
    assert good.metrics["macro_f1"] > poor.metrics["macro_f1"] + 0.05
    return good, poor


def _reordered(ds: Dataset, order: list[int]) -> Dataset:
    labels = tuple(ds.labels[i] for i in order)
    examples = [dataclasses.replace(e, targets=tuple(e.targets[i] for i in order)) for e in ds.examples]
    return Dataset(labels=labels, benign_label=ds.benign_label, examples=examples)


def test_a_reordered_label_set_is_judged_on_metrics(
    clean: Dataset, trained: tuple[Candidate, Candidate], tiny: ModelConfig, tmp_path: Path
) -> None:
    good, _poor = trained
    settings = _settings(tmp_path)
    registry = ModelRegistry(tmp_path / "registry")
    serving = _promote(good, clean, registry, settings)
    assert serving.promoted
    shuffled = _reordered(clean, [5, 3, 1, 0, 4, 2])  # the same names, as another CSV would order them
    worse = _promote(_train(shuffled, tmp_path / "w", settings, tiny, epochs=1), shuffled, registry, settings)
    print("reordered, 1 epoch:", worse.reason)
    assert not worse.promoted and "does not beat" in worse.reason
    assert worse.current_metrics is not None  # the serving model WAS scored, on the same examples
    assert worse.current_metrics["macro_f1"] == pytest.approx(good.metrics["macro_f1"], abs=0.02)
    assert worse.report["promotion"]["decided_by"] == "held_out"
    assert registry.current() == serving.version


def test_a_label_set_change_needs_the_flag(
    clean: Dataset, trained: tuple[Candidate, Candidate], tiny: ModelConfig, tmp_path: Path
) -> None:
    good, _poor = trained
    registry = ModelRegistry(tmp_path / "registry")
    serving = _promote(good, clean, registry, _settings(tmp_path))
    binary = Dataset(
        labels=("NotHate", "Hate"),
        benign_label="NotHate",
        examples=[
            Example(e.key, e.text, e.image_path, (e.targets[0], max(e.targets[1:]))) for e in clean.examples
        ],
    )
    candidate = _train(binary, tmp_path / "b", _settings(tmp_path), tiny, epochs=5)
    refused = _promote(candidate, binary, registry, _settings(tmp_path))
    assert not refused.promoted and "--allow-label-change" in refused.reason
    assert refused.report["promotion"]["decided_by"] == "labels" and registry.current() == serving.version
    allowed = _promote(candidate, binary, registry, _settings(tmp_path, allow_label_change=True))
    assert allowed.promoted and registry.current() == allowed.version


def test_two_concurrent_promotions_leave_the_better_one_current(
    clean: Dataset, trained: tuple[Candidate, Candidate], tmp_path: Path
) -> None:
    good, poor = trained
    rejudged = 0
    for round_ in range(4):
        registry = ModelRegistry(tmp_path / f"registry-{round_}")
        settings = _settings(tmp_path / str(round_))
        start = threading.Barrier(2)
        outcomes: dict[str, TrainOutcome] = {}

        def promote(
            name: str,
            candidate: Candidate,
            start: threading.Barrier = start,
            outcomes: dict[str, TrainOutcome] = outcomes,
            registry: ModelRegistry = registry,
            settings: TrainerSettings = settings,
        ) -> None:
            start.wait(30)
            outcomes[name] = _promote(candidate, clean, registry, settings)

        threads = [threading.Thread(target=promote, args=a) for a in (("poor", poor), ("good", good))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert set(outcomes) == {"poor", "good"}
        assert outcomes["good"].promoted and registry.current() == outcomes["good"].version
        rejudged += sum(
            bool(o.report["promotion"]["rejudged_after_current_moved"]) for o in outcomes.values()
        )
        if outcomes["poor"].promoted:  # it won the lock first; the good one then beat it, under the lock
            assert outcomes["good"].report["promotion"]["current_version"] == outcomes["poor"].version
    print(f"rounds in which CURRENT moved under a promoter and it judged again: {rejudged} of 4")


def _write_mmhs(root: Path, ds: Dataset) -> Path:
    """`ds` in the MMHS150K layout (3 annotator votes per post), the trusted eval set's format here."""
    (root / "img_resized").mkdir(parents=True)
    gt = {}
    for i, example in enumerate(ds.examples):
        hot = [j for j, t in enumerate(example.targets) if t >= 0.5] or [0]
        votes = [hot[0], hot[-1], hot[-1]]
        tweet_id = str(100_000 + i)
        gt[tweet_id] = {"tweet_text": example.text, "labels": votes, "img_url": ""}
        assert example.image_path is not None
        (root / "img_resized" / f"{tweet_id}.jpg").write_bytes(example.image_path.read_bytes())
    (root / "MMHS150K_GT.json").write_text(json.dumps(gt))
    return root


def test_better_on_poisoned_feedback_but_worse_on_the_trusted_set_is_not_promoted(
    clean: Dataset, trained: tuple[Candidate, Candidate], tiny: ModelConfig, tmp_path: Path
) -> None:
    good, _poor = trained
    trusted = _write_mmhs(tmp_path / "eval", synthetic_dataset(tmp_path / "eval-src", n=200, seed=3))
    settings = _settings(tmp_path, eval_set=trusted, eval_min_examples=150, eval_min_gain=0.01)
    registry = ModelRegistry(tmp_path / "registry")
    assert _promote(good, clean, registry, _settings(tmp_path)).promoted
    # A flood of feedback that swaps two labels (and includes the trusted posts themselves).
    swap = [0, 2, 1, 3, 4, 5]
    fresh = synthetic_dataset(tmp_path / "poison", n=600, seed=2)
    poisoned = Dataset(
        labels=DEFAULT_LABELS,
        benign_label=fresh.benign_label,
        examples=[dataclasses.replace(e, targets=tuple(e.targets[i] for i in swap)) for e in fresh.examples]
        + [
            dataclasses.replace(e, key=f"copy-{e.key}")
            for e in synthetic_dataset(tmp_path / "eval-src", 200, 3).examples
        ],
    )
    candidate = _train(poisoned, tmp_path / "p", settings, tiny, epochs=40)
    assert candidate.report["eval_set_overlap_dropped"] >= 200  # the trusted posts were never trained on
    outcome = _promote(candidate, poisoned, registry, settings)
    sets = outcome.report["promotion"]["sets"]
    print(json.dumps(outcome.report["promotion"], indent=1))
    assert sets["held_out"]["passed"]  # the poisoned held-out feedback says "better"
    assert sets["eval_set"]["candidate"] < sets["eval_set"]["current"]
    assert not outcome.promoted and outcome.report["promotion"]["decided_by"] == "eval_set"
    assert "eval set" in outcome.reason and outcome.candidate_metrics["eval_set_n_examples"] == 200


def test_cli_refuses_twenty_thousand_labels_and_a_silent_label_change(
    clean: Dataset,
    trained: tuple[Candidate, Candidate],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wide = tmp_path / "wide.csv"
    with wide.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", *(f"c{i}" for i in range(20_000))])
        for row in range(4):
            writer.writerow([f"post {row}", *((row + i) % 2 for i in range(20_000))])
    registry = tmp_path / "registry"
    monkeypatch.setenv("MODSTREAM_MODEL__REGISTRY", str(registry))
    monkeypatch.setenv("MODSTREAM_TRAINER__DATA_DIR", str(tmp_path / "trainer"))
    monkeypatch.setenv("MODSTREAM_DEVICE", "cpu")
    args = ["train", "--once", "--preset", "tiny", "--epochs", "1", "--no-progress"]
    assert main([*args, "--data", str(wide)]) == 2
    [err] = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("20")]  # not logs
    assert err.startswith("cannot train: the data names 20000 labels") and "max_labels=64" in err
    assert ModelRegistry(registry).current() is None

    _promote(trained[0], clean, ModelRegistry(registry), _settings(tmp_path))
    binary = tmp_path / "binary.csv"
    with binary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "labels"])
        for i, example in enumerate(clean.examples[:60]):
            writer.writerow([f"p{i}", example.text, "Hate" if i % 2 else ""])
    assert main([*args, "--data", str(binary)]) == 2
    [err] = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("20")]
    assert err.startswith("cannot train: the data's labels") and "--allow-label-change" in err
