"""`modstream dlq replay|show` against the real broker: filters, dry run, --since-offset, exact bytes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from events.dead_letter import REPLAYED_FROM_HEADER, dead_letter_headers
from events.kafka import ensure_topics, producer_config
from events.settings import Settings
from modstream.dlq import Filter, read_dead_letters, replay
from modstream.topic_reader import TopicReader

# (key, value, stage, error type): values are deliberately not all valid JSON; replay must not care.
LETTERS = [
    (b"k0", b'{"post_id": "k0", "image_url": "http://x/0.jpg"}', "fetch", "timeout"),
    (b"k1", b"{broken", "decode", "not_json"),
    (b"k2", b'{"post_id": "k2", "image_url": "http://x/2.jpg"}', "fetch", "http_status"),
    (None, b"\xff\xfe", "decode", "not_utf8"),
    (b"k4", b'{"post_id": "k4", "image_url": "http://x/4.jpg"}', "fetch", "timeout"),
]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """A DLQ on one partition (offsets are then the order above) holding LETTERS from the posts topic."""
    settings = make_settings()
    ensure_topics(settings.kafka, [settings.topics.dlq], partitions=1)
    ensure_topics(settings.kafka, [settings.topics.posts])
    producer = Producer(producer_config(settings.kafka))
    for i, (key, value, stage, error_type) in enumerate(LETTERS):
        headers = dead_letter_headers(
            stage=stage,
            error_type=error_type,
            message="boom",
            topic=settings.topics.posts,
            partition=0,
            offset=i,
        )
        producer.produce(settings.topics.dlq, value=value, key=key, headers=headers)
    assert producer.flush(30) == 0
    return settings


def _posts(settings: Settings) -> list[tuple[bytes | None, bytes | None, dict[str, bytes]]]:
    with TopicReader(settings.kafka, settings.topics.posts) as reader:
        return [(m.key(), m.value(), dict(m.headers() or [])) for m in reader.messages(until_end=True)]


def test_read_gives_every_letter_with_its_headers(settings: Settings) -> None:
    letters = list(read_dead_letters(settings, settings.topics.dlq, None))
    assert [(d.key, d.value, d.stage, d.error_type) for d in letters] == LETTERS
    assert [d.offset for d in letters] == list(range(len(LETTERS)))
    assert {d.meta["source.topic"] for d in letters} == {settings.topics.posts}


def test_replay_with_filter_republishes_exactly_the_matching_originals(settings: Settings) -> None:
    letters = read_dead_letters(settings, settings.topics.dlq, None)
    report = replay(
        settings, letters, Filter(stage="fetch", error_type="timeout"), to_topic=None, dry_run=False
    )
    assert (report.replayed, report.skipped, report.failed) == (2, 3, 0)
    assert report.next_since == {0: len(LETTERS)}
    posts = sorted(_posts(settings), key=lambda p: p[0] or b"")
    assert [(k, v) for k, v, _h in posts] == [(LETTERS[0][0], LETTERS[0][1]), (LETTERS[4][0], LETTERS[4][1])]
    assert posts[0][2][REPLAYED_FROM_HEADER] == f"{settings.topics.dlq}:0:0".encode()


def test_dry_run_sends_nothing(settings: Settings) -> None:
    letters = read_dead_letters(settings, settings.topics.dlq, None)
    report = replay(settings, letters, Filter(stage="decode"), to_topic=None, dry_run=True)
    assert (report.replayed, report.skipped) == (2, 3)
    assert _posts(settings) == []


def test_since_offset_skips_what_was_replayed_before(settings: Settings) -> None:
    letters = read_dead_letters(settings, settings.topics.dlq, "3")
    report = replay(settings, letters, Filter(), to_topic=None, dry_run=False)
    assert report.replayed == 2
    assert sorted(k or b"" for k, _v, _h in _posts(settings)) == [b"", b"k4"]


def test_cli_show_and_replay(settings: Settings, modstream_cli: Callable[..., object]) -> None:
    shown = modstream_cli(settings, "dlq", "show", "--filter-stage", "decode")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("decode/") == 2 and "0:1  decode/not_json  key=k1" in shown.stdout
    replayed = modstream_cli(settings, "dlq", "replay", "--filter-error-type", "http_status")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1, skipped 4 by filter, failed 0" in replayed.stdout
    assert "next time: --since-offset 0:5" in replayed.stdout
    assert [(k, v) for k, v, _h in _posts(settings)] == [(LETTERS[2][0], LETTERS[2][1])]


def test_cli_show_json(settings: Settings, modstream_cli: Callable[..., object]) -> None:
    import json

    first = modstream_cli(settings, "dlq", "show", "--json", "--max-messages", "1")
    assert [json.loads(line)["offset"] for line in first.stdout.splitlines()] == [0], first.stderr
    shown = modstream_cli(settings, "dlq", "show", "--json", "--filter-stage", "decode")
    assert shown.returncode == 0, shown.stderr
    letters = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(x["offset"], x["key"], x["error_type"]) for x in letters] == [
        (1, "k1", "not_json"),
        (3, None, "not_utf8"),
    ]
    assert letters[0]["source"] == {"topic": settings.topics.posts, "partition": "0", "offset": "1"}
    assert letters[0]["value_bytes"] == len(b"{broken") and letters[0]["reference"] is False


def test_cli_refuses_a_letter_naming_another_topic_unless_told_where(
    settings: Settings, modstream_cli: Callable[..., object]
) -> None:
    ensure_topics(settings.kafka, [settings.topics.feedback])
    producer = Producer(producer_config(settings.kafka))
    forged = dead_letter_headers(
        stage="decode",
        error_type="forged",
        message="x",
        topic=settings.topics.feedback,
        partition=0,
        offset=0,
    )
    producer.produce(settings.topics.dlq, key=b"f", value=b'{"post_id": "f", "labels": []}', headers=forged)
    assert producer.flush(30) == 0
    refused = modstream_cli(settings, "dlq", "replay", "--filter-error-type", "forged")
    assert refused.returncode == 0, refused.stderr
    assert f"names topic '{settings.topics.feedback}'" in refused.stderr and "--to-topic" in refused.stderr
    assert "replayed 0, skipped 5 by filter, failed 0, refused 1" in refused.stdout
    sent = modstream_cli(
        settings, "dlq", "replay", "--filter-error-type", "forged", "--to-topic", settings.topics.feedback
    )
    assert "replayed 1," in sent.stdout, sent.stderr
    with TopicReader(settings.kafka, settings.topics.feedback) as reader:
        [message] = list(reader.messages(until_end=True))
    assert dict(message.headers() or [])["modstream.replay.attempts"] == b"1"
