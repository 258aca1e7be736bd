"""`modstream train`: the feedback service, or (with --once) the trainer's one training run from a file.

    modstream train                                  # the service: feedback topic -> retrain -> promote
    modstream train --once --data PATH [...]         # trainer.cli: one offline run, no feedback service

The arguments are the trainer's (`trainer.cli.add_arguments`); this module only decides which of the
two components runs, so `trainer/` never needs to import the feedback service.
"""

from __future__ import annotations

import argparse
import sys

from trainer import cli as offline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    offline.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.once:
        return offline.run(args)
    if args.data is not None:
        print("--data needs --once (the service reads the feedback topic)", file=sys.stderr)
        return 2
    from events.kafka import probe_broker
    from events.logs import configure_logging
    from events.settings import Settings
    from feedback.service import run_service

    settings = Settings()
    configure_logging(settings.log)
    probe_broker(settings.kafka)  # one line and exit 3 when it does not answer
    return run_service(settings)
