"""`modstream consume [--max-messages N] [--idle-exit S]`: run the consumer service until stopped.

SIGTERM or SIGINT: stop taking posts, drain what is in flight, flush, commit, exit 0 within
`MODSTREAM_CONSUMER__DRAIN_GRACE_S`. Settings come from the environment (see events/settings.py).

Before anything is built the broker must answer within `MODSTREAM_KAFKA__CONNECT_TIMEOUT_S` (else exit 3,
one line naming the address); a SIGINT during that wait ends the command at once (exit 130).
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
    import logging

    from consumer.service import ConsumerService
    from events.interrupts import deferred_sigint
    from events.kafka import probe_broker
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
    logging.getLogger(__name__).debug(
        "waiting for the Kafka broker at %s (up to %gs)",
        settings.kafka.bootstrap_servers,
        settings.kafka.connect_timeout_s,
    )
    probe_broker(settings.kafka)  # a SIGINT here: KeyboardInterrupt, exit 130
    with deferred_sigint():  # the same, once the clients are built (never from inside their C calls)
        service = ConsumerService(settings, max_messages=args.max_messages, idle_exit_s=args.idle_exit)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        service.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return service.run()
