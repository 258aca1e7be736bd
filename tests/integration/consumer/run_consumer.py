"""Run `modstream consume` from a JSON file of settings and options (the integration tests' subprocess).

python -m tests.integration.consumer.run_consumer config.json
# {"settings": {...Settings sections...}, "options": {"max_messages": null, "idle_exit_s": 3}}
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

from consumer.service import ConsumerService
from events.logs import configure_logging
from events.settings import Settings


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    settings = Settings(_env_file=None, **config["settings"])
    configure_logging(settings.log)
    service = ConsumerService(settings, **config["options"])

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        service.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return service.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
