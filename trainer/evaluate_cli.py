"""`modstream evaluate --model DIR --data PATH`: a model's metrics on labelled data, as a table and JSON.

    modstream evaluate --model models/v20261130T150000Z-1a2b3c --data ../shared/data/davidson/train.csv \\
        --split test --out report.json

`--model` is a checkpoint directory, or a registry root (its current version is used). `--split`
picks the hash split the trainer uses (same holdout_fraction and seed from the settings), so
`--split test` scores exactly the examples training never saw; the default `all` scores every example.
The data's label set must be the model's (by name; the order may differ). Exit 4 (events/exits.py) when
`--model` holds no usable model, 2 when the data cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="checkpoint directory or registry root")
    parser.add_argument("--data", type=Path, required=True, help="MMHS150K directory, CSV, or JSONL feedback")
    parser.add_argument("--format", choices=("mmhs150k", "csv", "jsonl"), help="default: from the path")
    parser.add_argument("--split", choices=("all", "train", "val", "test"), default="all")
    parser.add_argument("--out", type=Path, help="write the report here as JSON")
    parser.add_argument("--device", default=None, help="auto, cpu or cuda (default: settings)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from events.exits import ModelMissing
    from events.settings import Settings
    from model.checkpoint import CheckpointError
    from model.predictor import Predictor
    from model.registry import ModelRegistry
    from trainer.dataset import split_examples
    from trainer.image_vetting import vet_images
    from trainer.metrics import evaluate, format_report, json_safe
    from trainer.readers import read_dataset
    from trainer.scoring import score_version

    settings = Settings()
    model_dir = args.model
    if not model_dir.is_dir():
        raise ModelMissing(f"no model at {model_dir}: not a checkpoint directory nor a registry")
    if not (model_dir / "metadata.json").is_file() and (model_dir / "CURRENT").is_file():
        current = ModelRegistry(model_dir).current()
        if current is None:
            raise ModelMissing(f"{model_dir}: the registry has no current version")
        model_dir = ModelRegistry(model_dir).path(current)
    try:
        dataset = read_dataset(args.data, args.format)
    except (OSError, ValueError) as exc:
        print(f"cannot evaluate: {exc}", file=sys.stderr)
        return 2
    try:
        predictor = Predictor.load(model_dir, device=args.device or settings.device)
    except (OSError, ValueError, CheckpointError) as exc:
        raise ModelMissing(f"cannot load the model: {exc}") from exc
    dataset, vetted = vet_images(dataset, size=predictor.checkpoint.config.image_size)
    if vetted.skipped:
        print(
            f"images skipped as undecodable: {vetted.skipped} of {vetted.checked} {vetted.reasons} "
            f"({vetted.dropped} examples without text left out)"
        )
    if set(predictor.labels) != set(dataset.labels):
        print(
            f"label sets differ: model {list(predictor.labels)}, data {list(dataset.labels)}", file=sys.stderr
        )
        return 2
    if args.split == "all":
        examples = dataset.examples
    else:
        t = settings.trainer
        examples = split_examples(dataset, t.holdout_fraction, t.seed)[args.split]
    if not examples:
        print(f"no examples in split {args.split!r}", file=sys.stderr)
        return 2
    labels = tuple(predictor.labels)
    order = [dataset.labels.index(name) for name in labels]  # data targets in the model's label order
    targets = np.array([[e.targets[j] for j in order] for e in examples], dtype=np.float64)
    scores = score_version(predictor, examples)
    report = evaluate(labels, predictor.benign_label, targets, scores, dict(predictor.thresholds))
    report["model"] = {"version": predictor.version, "path": str(model_dir)}
    report["data"] = {"path": str(args.data), "split": args.split, "images": vetted.as_dict()}
    report = json_safe(report)
    print(f"model {predictor.version} on {args.data} ({args.split}, {len(examples)} examples)")
    print(format_report(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"report written to {args.out}")
    return 0
