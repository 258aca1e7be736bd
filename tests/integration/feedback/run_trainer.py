"""Run the trainer service from a JSON file of settings and options (the integration tests' subprocess)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from events.logs import configure_logging
from events.settings import Settings
from feedback.service import run_service


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    settings = Settings(_env_file=None, **config["settings"])
    configure_logging(settings.log)
    options = dict(config["options"])
    pace_s = options.pop("pace_epochs_s", None)
    if pace_s:  # a slow training, so that a test can kill the process in the middle of it

        def on_epoch_end(epoch: int) -> None:
            time.sleep(pace_s)

        options["train_options"] = {"on_epoch_end": on_epoch_end}
    return run_service(settings, **options)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
