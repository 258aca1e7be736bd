"""`modstream`: one console script, one subcommand per module.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`. Modules
are imported when the parser is built, so they keep heavy imports (torch, the model) inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "consume": ("consumer.cli", "run the streaming consumer service"),
    "check": ("consumer.check", "health check of a running consumer; exit 0 healthy, 1 not"),
    "train": ("feedback.cli", "run the trainer service, or one training run from a file (--once)"),
    "evaluate": ("trainer.evaluate_cli", "metrics of a model on a labelled data set"),
    "demo": ("modstream.demo", "the whole loop on one machine, offline"),
    "produce": ("modstream.produce", "publish posts from a JSONL file"),
    "tail": ("modstream.tail", "watch the results topic"),
    "dlq": ("modstream.dlq", "inspect and replay dead letters"),
    "broker": ("modstream.broker", "run the embedded Kafka-compatible broker for local development"),
    "review": ("review.cli", "serve the moderators' review console"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modstream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
