"""`modstream tail`: a readable live view of the results topic.

    modstream tail                        # new results as they arrive, until Ctrl-C
    modstream tail --from-beginning --idle-exit 5
    modstream tail --flagged-only --json  # one raw result per line, for piping into jq

One line per result:

    FLAG 1114679353714016256  Racist 0.91  OtherHate 0.40  NotHate 0.12  image=ok  v20261130T150000Z-a1b2c3

`cached` marks a result served from the cache. A message that is not a valid result is shown as such
and skipped; the view never stops on one.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events.schemas import Result

_RED, _GREEN, _DIM, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[0m"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", default=None, help="topic (default: MODSTREAM_TOPICS__RESULTS)")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest result")
    parser.add_argument("--flagged-only", action="store_true", help="show flagged results only")
    parser.add_argument("--json", action="store_true", help="print each result as raw JSON")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N", help="stop after N results")
    parser.add_argument(
        "--idle-exit", type=float, default=None, metavar="SECONDS", help="stop after SECONDS without a result"
    )


def format_result(result: Result, *, color: bool = False) -> str:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    flag = paint(_RED, "FLAG") if result.flagged else paint(_GREEN, "ok  ")
    top = "  ".join(f"{item.label} {item.score:.2f}" for item in result.labels)
    extras = [f"image={result.image_status}"] + (["cached"] if result.cached else [])
    return f"{flag} {result.post_id}  {top}  {' '.join(extras)}  {paint(_DIM, result.model_version)}"


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from events.schemas import Result
    from events.settings import Settings
    from modstream.topic_reader import TopicReader

    settings = Settings()
    topic = args.topic or settings.topics.results
    color = sys.stdout.isatty() and not args.json
    stopping = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    try:  # SIGINT while the broker is asked: KeyboardInterrupt, exit 130 (modstream/failure.py)
        reader = TopicReader(settings.kafka, topic, start="beginning" if args.from_beginning else "end")
    except LookupError as exc:
        print(f"modstream tail: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    shown = 0
    with reader:
        for msg in reader.messages(idle_exit_s=args.idle_exit, stop=lambda: stopping):
            try:
                result = Result.model_validate_json(msg.value() or b"")
            except ValidationError as exc:
                print(
                    f"not a result at {msg.partition()}:{msg.offset()}: {exc.error_count()} errors",
                    file=sys.stderr,
                )
                continue
            if args.flagged_only and not result.flagged:
                continue
            print(
                json.dumps(result.model_dump(mode="json"))
                if args.json
                else format_result(result, color=color),
                flush=True,
            )
            shown += 1
            if args.max_messages is not None and shown >= args.max_messages:
                break
    return 0
