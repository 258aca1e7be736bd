"""`modstream dlq show|replay`: inspect dead letters, and re-publish them once the cause is fixed.

    modstream dlq show                                    # one line per dead letter: where, stage, why
    modstream dlq show --json                             # one JSON object per dead letter, for jq
    modstream dlq replay --filter-stage fetch --dry-run   # what would be replayed
    modstream dlq replay --filter-error-type timeout      # re-publish those to their source topic
    modstream dlq replay --since-offset 0:120,1:98        # only from these offsets on (per partition)

A dead letter's value is the original message, unchanged, and its `modstream.*` headers say where
it came from (events/dead_letter.py). Replay sends the original key and value back to the source
topic named in the headers, adding `modstream.replayed_from` and `modstream.replay.attempts` headers.
The headers are as hostile as the value, so a letter is replayed only:

- to the topic its dead-letter topic serves: a letter on the posts DLQ to the posts topic, one on the
  feedback DLQ to the feedback topic (any other DLQ: either of the two). A letter naming another
  topic, or none, is refused unless `--to-topic` names the target explicitly: a forged letter cannot
  steer a replay onto the feedback topic or anywhere else;
- fewer than `--max-attempts` times (default 3): the consumer and the feedback service copy the
  attempts header onto the letter of a replayed message that fails again, so a letter that keeps
  failing is refused with its count instead of being replayed (and dead-lettered) forever; a letter
  whose count cannot be read is refused too;
- once per failure: a letter whose replay already failed again (a later letter names it in
  `modstream.replayed_from` and holds the same bytes) is skipped, since that later letter is the one
  to replay (modstream/replay_chain.py), so replaying the whole DLQ twice does not double it.

It reads the
dead-letter topic up to its end as of the start, so the run ends even while new dead letters arrive,
and prints the offsets to pass as --since-offset next time. Nothing is deleted from the DLQ.

A reference letter (header modstream.truncated = reference) stands in for an original too large to send
back: `show` marks it `REFERENCE` with the original's length, sha256 and source offset; `replay` refuses
it (counted as refused, with the reason) since it does not hold the original.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modstream.replay_chain import Chain, address, digest, superseded_by

if TYPE_CHECKING:
    from events.settings import Settings

DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    meta: dict[str, str]  # the modstream.* headers, prefix stripped
    timestamp_ms: int | None = None  # the broker record's timestamp

    @property
    def stage(self) -> str:
        return self.meta.get("stage", "?")

    @property
    def error_type(self) -> str:
        return self.meta.get("error.type", "?")

    @property
    def reference(self) -> bool:
        return self.meta.get("truncated") == "reference"

    def reference_summary(self) -> str:
        """What a reference letter says of its original (length, sha256), read as hostile JSON."""
        import json

        try:
            body = json.loads((self.value or b"")[:65_536])
            return f"original {int(body['length'])} bytes sha256={str(body['sha256'])[:64]}"
        except (ValueError, TypeError, KeyError, RecursionError):
            return "original unknown (unreadable reference)"

    def refusal(self) -> str | None:
        """Why this letter cannot be replayed (it holds no original), or None."""
        if not self.reference:
            return None
        source = (
            f"{self.meta.get('source.topic', '?')}:{self.meta.get('source.partition', '?')}:"
            f"{self.meta.get('source.offset', '?')}"
        )
        return (
            f"a reference letter holds no original ({self.reference_summary()}); "
            f"it is at {source} until that topic's retention removes it"
        )


@dataclass(frozen=True)
class Filter:
    stage: str | None = None
    error_type: str | None = None

    def accepts(self, letter: DeadLetter) -> bool:
        return (self.stage is None or letter.stage == self.stage) and (
            self.error_type is None or letter.error_type == self.error_type
        )


def parse_since(text: str | None) -> dict[int, int] | int | None:
    """`120` = offset 120 of every partition; `0:120,1:98` = per partition (others from the start)."""
    if not text:
        return None
    if ":" not in text:
        return int(text)
    out = {}
    for part in text.split(","):
        partition, _, offset = part.partition(":")
        out[int(partition)] = int(offset)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (("show", "list dead letters"), ("replay", "re-publish dead letters")):
        action = sub.add_parser(name, help=help_text, description=help_text)
        action.add_argument(
            "--topic", default=None, help="dead-letter topic (default: MODSTREAM_TOPICS__DLQ)"
        )
        action.add_argument(
            "--filter-stage", default=None, metavar="S", help="only this stage (decode, fetch, ...)"
        )
        action.add_argument("--filter-error-type", default=None, metavar="T", help="only this error type")
        action.add_argument(
            "--since-offset", default=None, metavar="O|P:O,...", help="start at this offset (per partition)"
        )
        if name == "show":
            action.add_argument("--json", action="store_true", help="one JSON object per dead letter")
            action.add_argument(
                "--max-messages", type=int, default=None, metavar="N", help="stop after showing N letters"
            )
        if name == "replay":
            action.add_argument(
                "--to-topic",
                default=None,
                help="publish here instead of the source topic (needed for a letter naming neither the "
                "posts nor the feedback topic)",
            )
            action.add_argument(
                "--max-attempts",
                type=int,
                default=DEFAULT_MAX_ATTEMPTS,
                metavar="N",
                help=f"refuse letters already replayed N times (default {DEFAULT_MAX_ATTEMPTS})",
            )
            action.add_argument(
                "--dry-run", action="store_true", help="list what would be replayed, send nothing"
            )


def read_dead_letters(settings: Settings, topic: str, since: str | None) -> Iterator[DeadLetter]:
    """Every dead letter from `since` up to the end of the topic as of now."""
    from events.dead_letter import parse_dead_letter_headers
    from modstream.topic_reader import TopicReader

    with TopicReader(settings.kafka, topic, start="beginning", since=parse_since(since)) as reader:
        for msg in reader.messages(until_end=True):
            yield DeadLetter(
                partition=msg.partition() or 0,
                offset=msg.offset() or 0,
                key=msg.key(),
                value=msg.value(),
                meta=parse_dead_letter_headers(header_pairs(msg.headers())),
                timestamp_ms=msg.timestamp()[1],
            )


def header_pairs(
    headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, bytes | None]]:
    items = list(headers.items()) if isinstance(headers, dict) else (headers or [])
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in items]


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    failed: int = 0
    refused: int = 0  # reference letters, other topics without --to-topic, too many attempts (each said why)
    later: int = 0  # written after this run started (maybe by it): left for the next run
    superseded: int = 0  # replayed before and dead-lettered again: the later letter is the one to replay
    next_since: dict[int, int] | None = None


def _allowed_targets(settings: Settings, dlq_topic: str | None) -> tuple[str, ...]:
    """Where a letter of this DLQ may go by default: the configured DLQs each feed back to their own
    source (a letter on the posts DLQ naming the feedback topic is forged); any other DLQ to either."""
    own = {settings.topics.dlq: settings.topics.posts, settings.topics.feedback_dlq: settings.topics.feedback}
    if dlq_topic in own:
        return (own[dlq_topic],)
    return settings.topics.posts, settings.topics.feedback


def replay_plan(
    letter: DeadLetter,
    settings: Settings,
    *,
    to_topic: str | None,
    max_attempts: int,
    dlq_topic: str | None = None,
) -> tuple[str, int] | str:
    """(target topic, attempts to record) for a letter that may be replayed, else why it may not."""
    from events.dead_letter import replay_attempts

    refusal = letter.refusal()
    if refusal is not None:
        return refusal
    attempts = replay_attempts(letter.meta)
    if attempts is None:
        return "its replay-attempts header is not a number; replay it by hand if it must go"
    if attempts >= max_attempts:
        return (
            f"replayed {attempts} times already and failed again each time (limit {max_attempts}); "
            "fix the cause, or raise --max-attempts"
        )
    if to_topic is not None:
        return to_topic, attempts + 1
    source = letter.meta.get("source.topic")
    allowed = _allowed_targets(settings, dlq_topic)
    if source not in allowed:
        named = f"names topic {source[:100]!r}" if source else "names no source topic"
        return f"it {named}, not {' or '.join(allowed)}; pass --to-topic to send it there explicitly"
    return source, attempts + 1


def replay(
    settings: Settings,
    letters: Iterable[DeadLetter],
    keep: Filter,
    *,
    to_topic: str | None,
    dry_run: bool,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    dlq_topic: str | None = None,
    chain: Chain | None = None,
) -> ReplayReport:
    """`chain` (modstream.replay_chain, a first pass over the same letters): letters whose replay
    already failed again are skipped, so a full replay does not double the DLQ."""
    from confluent_kafka import KafkaError, Message, Producer

    from events.dead_letter import REPLAY_ATTEMPTS_HEADER, REPLAYED_FROM_HEADER
    from events.kafka import producer_config

    report = ReplayReport(next_since={})
    producer = None if dry_run else Producer(producer_config(settings.kafka))
    # The read runs to the end of the topic as the fetches see it, so a letter this very run caused (a
    # replayed post that failed again) would be replayed again within the run: it waits for the next one.
    started_ms = int(time.time() * 1000)
    dlq = dlq_topic or settings.topics.dlq

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            report.replayed += 1
        else:
            report.failed += 1
            print(f"replay failed: {err}", file=sys.stderr)

    for letter in letters:
        assert report.next_since is not None
        if letter.timestamp_ms is not None and letter.timestamp_ms >= started_ms:
            report.later += 1
            continue
        report.next_since[letter.partition] = letter.offset + 1
        if not keep.accepts(letter):
            report.skipped += 1
            continue
        later = (chain or {}).get(address(dlq, letter.partition, letter.offset))
        if later is not None and later[0] == digest(letter):
            report.superseded += 1
            print(f"skip {letter.partition}:{letter.offset}: replayed before, and failed again as {later[1]}")
            continue
        plan = replay_plan(
            letter,
            settings,
            to_topic=to_topic,
            max_attempts=max_attempts,
            dlq_topic=dlq_topic or settings.topics.dlq,
        )
        if isinstance(plan, str):
            report.refused += 1
            print(f"refuse {letter.partition}:{letter.offset}: {plan}", file=sys.stderr)
            continue
        target, attempts = plan
        print(
            f"{'would replay' if dry_run else 'replay'} {letter.partition}:{letter.offset} -> {target} "
            f"[{letter.stage}/{letter.error_type}] attempt {attempts}"
        )
        if producer is None:
            report.replayed += 1
            continue
        origin = address(dlq, letter.partition, letter.offset).encode()
        producer.produce(
            target,
            value=letter.value,
            key=letter.key,
            headers=[(REPLAYED_FROM_HEADER, origin), (REPLAY_ATTEMPTS_HEADER, str(attempts).encode())],
            on_delivery=on_delivery,
        )
        producer.poll(0)
    if producer is not None:
        left = producer.flush(60)
        report.failed += left
    return report


def letter_json(letter: DeadLetter) -> dict[str, object]:
    """What `show --json` prints for one letter; the key is text (invalid UTF-8 replaced)."""
    return {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": None if letter.key is None else letter.key.decode("utf-8", "replace"),
        "stage": letter.stage,
        "error_type": letter.error_type,
        "error_message": letter.meta.get("error.message", ""),
        "source": {
            "topic": letter.meta.get("source.topic"),
            "partition": letter.meta.get("source.partition"),
            "offset": letter.meta.get("source.offset"),
        },
        "failed_at": letter.meta.get("failed_at"),
        "reference": letter.reference,
        "value_bytes": len(letter.value or b""),
    }


def _show(
    settings: Settings,
    letters: Iterable[DeadLetter],
    keep: Filter,
    *,
    as_json: bool = False,
    max_messages: int | None = None,
) -> int:
    import json

    shown = 0
    for letter in letters:
        if max_messages is not None and shown >= max_messages:
            break
        if not keep.accepts(letter):
            continue
        if as_json:
            print(json.dumps(letter_json(letter)), flush=True)
            shown += 1
            continue
        source = (
            f"{letter.meta.get('source.topic', '?')}:{letter.meta.get('source.partition', '?')}:"
            f"{letter.meta.get('source.offset', '?')}"
        )
        message = letter.meta.get("error.message", "")[:120]
        key = (letter.key or b"").decode("utf-8", "replace")[:200]
        kind = f"  REFERENCE ({letter.reference_summary()})" if letter.reference else ""
        print(
            f"{letter.partition}:{letter.offset}  {letter.stage}/{letter.error_type}  key={key}  "
            f"from {source}  {message}{kind}"
        )
        shown += 1
    print(f"{shown} dead letters", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    from events.settings import Settings

    settings = Settings()
    topic = args.topic or settings.topics.dlq
    keep = Filter(stage=args.filter_stage, error_type=args.filter_error_type)
    try:
        parse_since(args.since_offset)
    except ValueError:
        since = args.since_offset
        print(f"modstream dlq: --since-offset must be OFFSET or P:O,P:O, not {since!r}", file=sys.stderr)
        return 2
    try:
        letters = read_dead_letters(settings, topic, args.since_offset)
        if args.action == "show":
            return _show(settings, letters, keep, as_json=args.json, max_messages=args.max_messages)
        chain = superseded_by(read_dead_letters(settings, topic, args.since_offset), topic)
        report = replay(
            settings,
            letters,
            keep,
            to_topic=args.to_topic,
            dry_run=args.dry_run,
            max_attempts=args.max_attempts,
            dlq_topic=topic,
            chain=chain,
        )
    except LookupError as exc:
        print(f"modstream dlq: {exc}", file=sys.stderr)
        return 1
    verb = "would replay" if args.dry_run else "replayed"
    print(
        f"{verb} {report.replayed}, skipped {report.skipped} by filter, failed {report.failed}, "
        f"refused {report.refused} (each said why), {report.superseded} replayed before and failed again, "
        f"{report.later} newer than this run left for the next"
    )
    if report.next_since:
        since = ",".join(f"{p}:{o}" for p, o in sorted(report.next_since.items()))
        print(f"next time: --since-offset {since}")
    return 1 if report.failed else 0
