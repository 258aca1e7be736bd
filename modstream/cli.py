"""`modstream`: one console script, one subcommand per module.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`. Modules
are imported when the parser is built, so they keep heavy imports (torch, the model) inside `run`.

Every command reads its settings through events.settings_env.load_settings (a misspelt or invalid
MODSTREAM_* variable ends it in one line), and every failure ends in one line on stderr with the exit
code of events/exits.py (modstream/failure.py); `--verbose` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

DESCRIPTION = """\
modstream: Kafka streaming content moderation. Posts (text and/or an image URL) are read from a
topic, scored by a multimodal hate-speech classifier, and one result per post (top-3 labels, every
score, flagged or not) is published; moderators' feedback retrains the model, and running consumers
switch to a promoted version without a restart. Settings come from MODSTREAM_* variables or .env
(docs/configuration.md)."""

EPILOG = """\
exit codes: 0 done; 1 the work failed (or an internal error); 2 usage, unreadable input or invalid
setting; 3 Kafka broker unreachable; 4 no model; 130 interrupted.
`modstream COMMAND --help` describes each command."""

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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modstream")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modstream",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modstream {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        # Also accepted after the command; SUPPRESS keeps the top-level value when it is not given.
        command.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


# Commands whose own output is the interface (tools, the demo's story): only warnings are logged.
QUIET = frozenset({"check", "evaluate", "produce", "tail", "dlq", "demo"})


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    from events.logs import configure_logging
    from events.settings_env import load_settings
    from modstream.failure import Outcome, json_mode_requested

    args = build_parser().parse_args(argv)
    with Outcome(command=args.command, verbose=args.verbose, json_lines=json_mode_requested()) as outcome:
        settings = load_settings()  # a misspelt or invalid variable ends every command here, in one line
        configure_logging(settings.log)  # librdkafka's log included (events/kafka_log.py)
        if args.command in QUIET:
            root = logging.getLogger()
            root.setLevel(max(root.level, logging.WARNING))
        outcome.code = int(args._run(args))
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
