"""`modstream produce FILE.jsonl`: publish posts, one JSON object per line, keyed by post_id.

    modstream produce posts.jsonl                 # validated against the Post schema first
    modstream produce - < posts.jsonl             # from stdin
    modstream produce --raw broken.jsonl          # every line as it is (to exercise the dead-letter path)

Each line is sent as it is written (the bytes are not re-encoded). The whole input is read and
validated before the broker is asked anything: lines that are not valid posts are reported with their
line number and skipped, unless --raw. Exit 0 when every line was delivered and acknowledged, 1 when
any was skipped or failed, 2 when the file cannot be read, 3 when the broker does not answer within
MODSTREAM_KAFKA__CONNECT_TIMEOUT_S (events/exits.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from events.settings import Settings


_FLUSH_S = 60.0  # longest wait for the last acknowledgements


@dataclass(frozen=True)
class Line:
    number: int
    key: bytes | None
    value: bytes
    error: str | None = None  # why the line is not a valid post (None = valid or --raw)


@dataclass
class ProduceReport:
    delivered: int = 0
    skipped: list[Line] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.failed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="JSONL file of posts, or - for stdin")
    parser.add_argument("--topic", default=None, help="topic (default: MODSTREAM_TOPICS__POSTS)")
    parser.add_argument("--raw", action="store_true", help="send every line unvalidated")


def read_lines(lines: Iterable[str], *, raw: bool = False) -> Iterator[Line]:
    """Blank lines are skipped silently; the key is the post_id when the line has one."""
    from events.schemas import InvalidEvent, decode_post

    for number, text in enumerate(lines, start=1):
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        value = text.encode("utf-8", "surrogateescape")
        try:
            key: bytes | None = decode_post(value).post_id.encode("utf-8")
            error = None
        except InvalidEvent as exc:
            key, error = None, str(exc)
        yield Line(number, key, value, None if raw else error)


def produce_lines(settings: Settings, lines: Iterable[Line], topic: str | None = None) -> ProduceReport:
    from confluent_kafka import KafkaError, Message, Producer

    from events.kafka import ensure_topics, producer_config

    topic = topic or settings.topics.posts
    if settings.kafka.create_topics:
        ensure_topics(settings.kafka, [topic])
    producer = Producer(producer_config(settings.kafka))
    report = ProduceReport()

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            report.delivered += 1
        else:
            report.failed.append(f"{msg.key()!r}: {err}")

    for line in lines:
        if line.error is not None:
            report.skipped.append(line)
            continue
        while True:
            try:
                producer.produce(topic, value=line.value, key=line.key, on_delivery=on_delivery)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                producer.poll(0.5)
        producer.poll(0)
    # In slices, so a SIGINT (KeyboardInterrupt between two slices) is honoured within a second.
    deadline = time.monotonic() + _FLUSH_S
    remaining = producer.flush(0)
    while remaining and time.monotonic() < deadline:
        remaining = producer.flush(0.5)
    if remaining:
        report.failed.append(f"{remaining} messages not acknowledged within {_FLUSH_S:g}s")
    return report


def _open(path: str) -> TextIO:
    return sys.stdin if path == "-" else Path(path).open(encoding="utf-8", errors="surrogateescape")


def run(args: argparse.Namespace) -> int:
    from events.kafka import probe_broker
    from events.settings import Settings

    settings = Settings()
    # Read and validate everything first: a bad file is reported in full even with no broker.
    with _open(args.file) as handle:
        lines = list(read_lines(handle, raw=args.raw))
    for line in lines:
        if line.error is not None:
            print(f"skipped line {line.number}: {line.error}", file=sys.stderr)
    probe_broker(settings.kafka)
    report = produce_lines(settings, lines, args.topic)
    for failure in report.failed:
        print(f"not delivered: {failure}", file=sys.stderr)
    topic = args.topic or settings.topics.posts
    print(
        f"delivered {report.delivered} posts to {topic}; skipped {len(report.skipped)}; "
        f"failed {len(report.failed)}"
    )
    return 0 if report.ok else 1
