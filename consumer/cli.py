"""`modstream consume [--max-messages N] [--idle-exit S]`: run the consumer service until stopped.

SIGTERM or SIGINT: stop taking posts, drain what is in flight, flush, commit, exit 0 within
`MODSTREAM_CONSUMER__DRAIN_GRACE_S`. Settings come from the environment (see events/settings.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-messages",
        type=int,
        default=None,
        metavar="N",
        help="stop after taking N posts (and finishing them)",
    )
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop once no post arrived for this long and nothing is in flight",
    )


def run(args: argparse.Namespace) -> int:
    from consumer.service import ConsumerService
    from events.logs import configure_logging
    from events.settings import Settings

    settings = Settings()
    if settings.consumer.cache_enabled:
        from consumer.cache_codec import SigningKeyMissing, signing_key_for

        try:
            signing_key_for(settings.redis)
        except SigningKeyMissing as exc:  # one line, naming the variable: not a traceback
            print(f"modstream consume: {exc}", file=sys.stderr)
            return 2
    configure_logging(settings.log)
    service = ConsumerService(settings, max_messages=args.max_messages, idle_exit_s=args.idle_exit)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        service.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return service.run()
