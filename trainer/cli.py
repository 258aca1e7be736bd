"""`modstream train --once`: one training run from a file (the service itself is `feedback.cli`).

    modstream train --once --data ../shared/data/davidson/train.csv --preset minilm --encoders last
    modstream train --once --data mmhs150k/ --format mmhs150k --epochs 5 --out report.json

A one-off run trains on the train split, chooses thresholds on val, evaluates on test, compares with
the registry's current version on the same test examples and promotes when better. Exit code 0 when
a version was promoted or the candidate was fairly beaten, 2 on bad input: unreadable data, more
labels than settings.trainer.max_labels, or a label set that differs by name from the serving
version's without `--allow-label-change`. With MODSTREAM_TRAINER__EVAL_SET the candidate must also
beat the serving version on that trusted set (see trainer/promotion.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events.settings import Settings, TrainerSettings
    from model.registry import ModelRegistry
    from trainer.dataset import Dataset

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="one training run from --data, then exit")
    parser.add_argument("--data", type=Path, help="MMHS150K directory, CSV or JSONL of feedback events")
    parser.add_argument("--format", choices=("mmhs150k", "csv", "jsonl"), help="default: from the path")
    parser.add_argument(
        "--preset", choices=("tiny", "minilm", "base"), help="default: settings.trainer.preset"
    )
    parser.add_argument(
        "--encoders",
        choices=("frozen", "last", "full"),
        default="frozen",
        help="frozen: head only (cached features); last: also the last --text-layers layers; full: all",
    )
    parser.add_argument("--text-layers", type=int, default=2, help="layers fine-tuned with --encoders last")
    parser.add_argument("--epochs", type=int, help="default: 20 for frozen, 3 otherwise")
    parser.add_argument("--work-dir", type=Path, help="resumable training state (default: data_dir/offline)")
    parser.add_argument("--out", type=Path, help="write the evaluation report here as JSON")
    parser.add_argument("--notify", action="store_true", help="publish a model-updates event when promoted")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--allow-label-change",
        action="store_true",
        help="promote even though the data's label set differs (by name) from the serving version's",
    )


def run(args: argparse.Namespace) -> int:
    from events.logs import configure_logging
    from events.settings import Settings

    settings = Settings()
    configure_logging(settings.log)
    if args.data is None:
        print("--once needs --data PATH", file=sys.stderr)
        return 2
    return _train_once(args, settings)


def _train_once(args: argparse.Namespace, settings: Settings) -> int:
    from model.registry import ModelRegistry
    from trainer.metrics import format_report, json_safe
    from trainer.readers import DatasetFileError, read_dataset
    from trainer.run import UnusableDataset, train_and_maybe_promote
    from trainer.training import TrainConfig

    if not args.data.exists():
        print(f"cannot train: {args.data}: no such file or directory", file=sys.stderr)
        return 2
    try:
        dataset = read_dataset(args.data, args.format)
    except (OSError, ValueError) as exc:
        print(f"cannot train: {exc}", file=sys.stderr)
        return 2
    trainer = settings.trainer
    if args.allow_label_change:
        trainer = trainer.model_copy(update={"allow_label_change": True})
    registry = ModelRegistry(settings.model.registry)
    refusal = _label_refusal(dataset, registry, trainer)
    if refusal is not None:
        print(f"cannot train: {refusal}", file=sys.stderr)
        return 2
    config = TrainConfig.for_mode(args.encoders, args.epochs, seed=trainer.seed, text_layers=args.text_layers)
    try:
        outcome = train_and_maybe_promote(
            dataset,
            registry=registry,
            preset=args.preset or trainer.preset,
            work_dir=args.work_dir or trainer.data_dir / "offline",
            settings=trainer,
            device=settings.device,
            progress=not args.no_progress,
            encoders=args.encoders,
            train_config=config,
        )
    except (DatasetFileError, UnusableDataset) as exc:  # e.g. every row refused; an image swapped meanwhile
        print(f"cannot train: {exc}", file=sys.stderr)
        return 2
    print(format_report(outcome.report))
    images = outcome.report.get("images", {})
    if images.get("skipped"):
        print(
            f"images skipped as undecodable: {images['skipped']} of {images['checked']} "
            f"{images['reasons']} ({images['dropped']} examples without text left out)"
        )
    print(f"training CPU time: {outcome.report['train']['cpu_seconds']:.1f}s")
    if outcome.current_metrics is not None:
        metric = trainer.promote_metric
        print(f"current {metric}: {outcome.current_metrics.get(metric)}")
    print(f"{'promoted ' + str(outcome.version) if outcome.promoted else 'not promoted'}: {outcome.reason}")
    if args.out is not None:
        args.out.write_text(json.dumps(json_safe(outcome.report), indent=2))
    if outcome.promoted and args.notify and outcome.version is not None:
        _notify(settings, outcome.version, registry.path(outcome.version), outcome.candidate_metrics)
    return 0


def _label_refusal(dataset: Dataset, registry: ModelRegistry, trainer: TrainerSettings) -> str | None:
    """Why this data must not be trained on before any CPU is spent: too many labels, or a label set
    that differs by name from the serving version's without --allow-label-change."""
    from trainer.labelset import LabelSetReader
    from trainer.run import UnusableDataset, check_label_count

    try:
        check_label_count(dataset, trainer)
    except UnusableDataset as exc:
        return str(exc)
    if registry.current() is None or trainer.allow_label_change:
        return None
    serving, _benign = LabelSetReader(registry).label_set()
    if set(serving) == set(dataset.labels):
        return None
    return (
        f"the data's labels {list(dataset.labels)[:10]} differ from the serving version's {list(serving)}; "
        "pass --allow-label-change to replace the label set"
    )


def _notify(settings: Settings, version: str, path: Path, metrics: dict[str, float]) -> None:
    """Best effort: a model-updates event for running consumers (they also poll the registry)."""
    from confluent_kafka import KafkaException, Producer

    from events.kafka import producer_config
    from events.schemas import ModelUpdate, encode

    event = ModelUpdate(model_version=version, path=str(path), metrics=metrics)
    producer = Producer(producer_config(settings.kafka))
    try:
        producer.produce(settings.topics.model_updates, key=version.encode(), value=encode(event))
    except (BufferError, KafkaException) as exc:
        log.warning(
            "model-updates event for %s not sent (%s); consumers will see it by polling", version, exc
        )
        return
    left = producer.flush(10.0)
    if left:
        log.warning("model-updates event for %s not acknowledged; consumers will see it by polling", version)
