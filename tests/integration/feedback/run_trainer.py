"""Run the trainer service from a JSON file of settings and options (the integration tests' subprocess).

`hold_after_epoch: N` (a test option, not the service's) stops the training after its N-th saved epoch
and holds it there, writing `<settings file>.held` with that epoch, so a test can kill the process in the
middle of a training whatever the machine's speed: it waits for the marker, not for a pace.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from events.logs import configure_logging
from events.settings import Settings
from feedback.service import run_service

# A held training resumes after this long, so a test that never kills it still ends (every wait has a
# deadline); far longer than any test's wait for the marker.
HOLD_DEADLINE_S = 600.0


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    settings = Settings(_env_file=None, **config["settings"])
    configure_logging(settings.log)
    options = dict(config["options"])
    hold_after = options.pop("hold_after_epoch", None)
    if hold_after is not None:
        marker = held_marker(Path(config_path))

        def on_epoch_end(epoch: int) -> None:
            if epoch >= hold_after:
                marker.write_text(str(epoch))
                threading.Event().wait(HOLD_DEADLINE_S)

        options["train_options"] = {"on_epoch_end": on_epoch_end}
    return run_service(settings, **options)


def held_marker(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + ".held")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
