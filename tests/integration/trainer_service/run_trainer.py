"""Run the trainer service from a JSON file of settings and options (the integration tests' subprocess)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from events.logs import configure_logging
from events.settings import Settings
from trainer.service import run_service


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    settings = Settings(_env_file=None, **config["settings"])
    configure_logging(settings.log)
    return run_service(settings, **config["options"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
