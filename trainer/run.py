"""One offline run: train a candidate, evaluate it, compare with the serving version, maybe promote.

    >>> outcome = train_and_maybe_promote(read_dataset(path), registry=ModelRegistry(root), preset="tiny",
    ...                                   work_dir=Path("work"), settings=Settings().trainer)
    >>> outcome.promoted, outcome.candidate_metrics["macro_f1"]

The split is the stable hash split (or the data's own), so train never sees val or test, and the
candidate and the serving version are scored on the same test examples. Thresholds are chosen on
val. Training state lives in `work_dir` and a rerun of the same run resumes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from events.settings import TrainerSettings
from model.checkpoint import save_checkpoint
from model.config import ModelConfig
from model.network import FusionClassifier
from model.predictor import Predictor, resolve_device
from model.preprocess import TextEncoder
from model.registry import ModelRegistry
from trainer.dataset import Dataset, Example, Split, fingerprint, label_counts, only_modality, split_examples
from trainer.eval_set import EvalSet, drop_overlap, load_eval_set
from trainer.gate import Judgement, promote_if_better
from trainer.image_vetting import vet_images
from trainer.judge import judge_candidate
from trainer.metrics import evaluate, json_safe
from trainer.scoring import evaluate_by_name
from trainer.state import clear_state
from trainer.thresholds import choose_thresholds
from trainer.training import EncoderMode, TrainConfig, Trainer

log = logging.getLogger(__name__)


class UnusableDataset(ValueError):
    """The data was read, but too little of it is usable to train and evaluate (exit 2 in the CLI)."""


@dataclass(frozen=True)
class TrainOutcome:
    version: str | None  # the promoted version, None when not promoted
    promoted: bool
    candidate_metrics: dict[str, float]
    current_metrics: dict[str, float] | None  # the serving version on the same holdout (None if none)
    reason: str
    report: dict[str, Any]  # the full evaluation report (per-label table etc.)


@dataclass
class Candidate:
    model: FusionClassifier
    text: TextEncoder
    thresholds: dict[str, float]
    report: dict[str, Any]
    splits: dict[Split, list[Example]]
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.report["summary"])


def train_candidate(
    dataset: Dataset,
    *,
    preset: str,
    work_dir: Path,
    settings: TrainerSettings,
    device: str = "auto",
    progress: bool = True,
    encoders: EncoderMode = "frozen",
    epochs: int | None = None,
    modality: Literal["both", "text", "image"] = "both",
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    pretrained: bool = True,
    on_epoch_end: Callable[[int], None] | None = None,
    exclude: EvalSet | None = None,
) -> Candidate:
    """Train on the train split, choose thresholds on val, report on test. Examples sharing content
    with `exclude` (the trusted eval set) are left out of every split."""
    check_label_count(dataset, settings)
    data, overlap = drop_overlap(only_modality(dataset, modality), exclude)
    cfg = train_config or TrainConfig.for_mode(encoders, epochs, seed=settings.seed)
    mcfg = ModelConfig.preset(preset, labels=data.labels, benign_label=data.benign_label)
    if model_config is not None:  # an explicit architecture; the label set always comes from the data
        mcfg = dataclasses.replace(model_config, labels=data.labels, benign_label=data.benign_label)
    data, vetted = vet_images(data, size=mcfg.image_size)  # one bad image must not end the run
    splits = split_examples(data, settings.holdout_fraction, settings.seed)
    if not splits["train"] or not splits["test"]:
        sizes = {k: len(v) for k, v in splits.items()}
        raise UnusableDataset(f"need examples in both train and test splits, got {sizes}")
    torch.manual_seed(cfg.seed)  # the head's initial weights (and a tiny encoder's) follow the seed
    model = FusionClassifier(mcfg, pretrained=pretrained)
    text = TextEncoder.from_dir(mcfg.tokenizer_source, mcfg.max_length)
    run_id = _run_id(data, mcfg, cfg, settings)
    log.info(
        "run %s: %d train / %d val / %d test, labels %s, train support %s, %s encoders, %d epochs",
        run_id,
        *(len(splits[k]) for k in ("train", "val", "test")),
        list(data.labels),
        label_counts(splits["train"], len(data.labels)),
        cfg.encoders,
        cfg.epochs,
    )
    trainer = Trainer(
        model,
        text,
        cfg,
        work_dir=work_dir,
        run_id=run_id,
        device=resolve_device(device),
        progress=progress,
        on_epoch_end=on_epoch_end,
        cache_dir=settings.data_dir / "feature-cache",  # outlives work_dir: retrains reuse features
    )
    started = time.process_time(), time.monotonic()
    history = trainer.fit(splits["train"])
    cpu_seconds = time.process_time() - started[0]
    log.info("training took %.1fs wall, %.1fs CPU", time.monotonic() - started[1], cpu_seconds)
    thresholds = {name: 0.5 for name in data.labels}
    if splits["val"]:
        thresholds = choose_thresholds(data.labels, _targets(splits["val"]), trainer.predict(splits["val"]))
    scores = trainer.predict(splits["test"])
    report = evaluate(data.labels, data.benign_label, _targets(splits["test"]), scores, thresholds)
    report["split_sizes"] = {k: len(v) for k, v in splits.items()}
    report["images"] = vetted.as_dict()  # checked / skipped (undecodable) / dropped (no text either)
    report["eval_set_overlap_dropped"] = overlap
    report["train"] = {
        "config": cfg.to_dict(),
        "history": history,
        "run_id": run_id,
        "cpu_seconds": cpu_seconds,
    }
    clear_state(work_dir, run_id)
    return Candidate(model.cpu(), text, thresholds, json_safe(report), splits, cpu_seconds, history)


def _targets(examples: list[Example]) -> np.ndarray:
    return np.array([e.targets for e in examples], dtype=np.float64)


def _run_id(data: Dataset, mcfg: ModelConfig, cfg: TrainConfig, settings: TrainerSettings) -> str:
    parts = [fingerprint(data), mcfg.to_dict(), cfg.to_dict(), settings.holdout_fraction, settings.seed]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_label_count(dataset: Dataset, settings: TrainerSettings) -> None:
    """UnusableDataset when the data names more labels than settings.trainer.max_labels (a CSV with
    20,000 integer columns is not a label set anyone meant)."""
    if len(dataset.labels) > settings.max_labels:
        raise UnusableDataset(
            f"the data names {len(dataset.labels)} labels, more than max_labels={settings.max_labels} "
            f"(first: {', '.join(dataset.labels[:5])}); raise MODSTREAM_TRAINER__MAX_LABELS if that is meant"
        )


def train_and_maybe_promote(
    dataset: Dataset,
    *,
    registry: ModelRegistry,
    preset: str,
    work_dir: Path,
    settings: TrainerSettings,
    device: str = "auto",
    progress: bool = True,
    encoders: EncoderMode = "frozen",
    epochs: int | None = None,
    **candidate_options: Any,
) -> TrainOutcome:
    trusted = load_eval_set(settings)  # before training: a configured judge that cannot be read stops here
    candidate = train_candidate(
        dataset,
        preset=preset,
        work_dir=work_dir,
        settings=settings,
        device=device,
        progress=progress,
        encoders=encoders,
        epochs=epochs,
        exclude=trusted,
        **candidate_options,
    )
    return promote_candidate(
        candidate,
        dataset,
        registry=registry,
        preset=preset,
        encoders=encoders,
        settings=settings,
        trusted=trusted,
        device=device,
    )


def promote_candidate(
    candidate: Candidate,
    dataset: Dataset,
    *,
    registry: ModelRegistry,
    preset: str,
    settings: TrainerSettings,
    trusted: EvalSet | None = None,
    encoders: str = "frozen",
    device: str = "auto",
) -> TrainOutcome:
    """Judge a trained candidate against the serving version and promote it as a compare-and-set
    (trainer.gate): the held-out feedback gate, and the trusted eval-set gate when one is configured."""
    test = candidate.splits["test"]
    eval_candidate: dict[str, Any] | None = None
    if trusted is not None:
        with tempfile.TemporaryDirectory(prefix="candidate-") as staged:
            _save(Path(staged) / "ckpt", candidate, "candidate", preset, encoders, candidate.report)
            eval_candidate = evaluate_by_name(
                Predictor.load(Path(staged) / "ckpt", device=device),
                trusted.dataset.labels,
                trusted.dataset.examples,
            )

    def judge(current: str | None) -> Judgement:
        return judge_candidate(
            current,
            candidate.metrics,
            dataset.labels,
            test,
            registry=registry,
            settings=settings,
            trusted=trusted,
            eval_candidate=eval_candidate,
            device=device,
        )

    version = registry.new_version_name()

    def build(directory: Path, judgement: Judgement) -> None:
        _save(directory, candidate, version, preset, encoders, _full_report(candidate, judgement), judgement)

    gate = promote_if_better(
        version=version,
        build=build,
        registry=registry,
        judge=judge,
        lock_timeout_s=settings.promote_lock_timeout_s,
    )
    judgement = gate.judgement
    report = _full_report(candidate, judgement)
    report["promotion"]["rejudged_after_current_moved"] = gate.rejudged
    reason = judgement.decision.reason
    log.info("promotion: %s", reason)
    current_metrics = report.get("current", {}).get("summary")
    metrics = {**candidate.metrics, **judgement.metrics}
    if gate.version is None:
        return TrainOutcome(None, False, metrics, current_metrics, reason, report)
    log.info("promoted %s into %s", gate.version, registry.path(gate.version))
    return TrainOutcome(gate.version, True, metrics, current_metrics, reason, report)


def _full_report(candidate: Candidate, judgement: Judgement) -> dict[str, Any]:
    report = dict(candidate.report)
    report["promotion"] = dict(judgement.section)
    report.update({k: v for k, v in judgement.reports.items() if v is not None})
    return report


def _save(
    directory: Path,
    candidate: Candidate,
    version: str,
    preset: str,
    encoders: str,
    report: dict[str, Any],
    judgement: Judgement | None = None,
) -> None:
    metrics = {k: float(v) for k, v in candidate.metrics.items()}
    if judgement is not None:
        metrics.update(judgement.metrics)
    save_checkpoint(
        directory,
        candidate.model,
        tokenizer_dir_or_textencoder=candidate.text,
        thresholds=candidate.thresholds,
        version=version,
        metrics=metrics,
        extra={"report": report, "preset": preset, "encoders": encoders},
    )
