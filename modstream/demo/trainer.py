"""`python -m modstream.demo.trainer --epochs N`: the trainer service, bounded to one training, for the demo.

This is `feedback.service.run_service` (the service `modstream train` runs: feedback topic -> durable
store -> retrain -> evaluate -> promote -> model-updates event), stopped after its first finished
training so the demo can go on. Settings come from the environment the demo gives it.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, required=True, help="training epochs of the candidate")
    args = parser.parse_args(argv)

    import torch

    from events.logs import configure_logging
    from events.settings import Settings
    from feedback.service import run_service

    torch.set_num_threads(1)  # the tiny model trains several times faster on one thread on shared cores
    settings = Settings()
    configure_logging(settings.log)
    return run_service(settings, stop_after_trainings=1, train_options={"epochs": args.epochs})


if __name__ == "__main__":
    sys.exit(main())
