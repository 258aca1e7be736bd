"""`modstream dlq` and reference letters on the real broker: shown as such, never replayed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from events.dead_letter import dead_letter_headers, reference_letter
from events.kafka import ensure_topics, producer_config
from events.settings import Settings
from modstream.dlq import Filter, read_dead_letters, replay
from modstream.topic_reader import TopicReader


def test_a_reference_letter_is_shown_and_refused_not_replayed(
    make_settings: Callable[..., Settings], modstream_cli: Callable[..., Any]
) -> None:
    settings = make_settings()
    ensure_topics(settings.kafka, [settings.topics.dlq], partitions=1)
    ensure_topics(settings.kafka, [settings.topics.posts])
    original = b"[" * 999_900
    headers = dead_letter_headers(
        stage="decode", error_type="too_deep", message="x", topic=settings.topics.posts, partition=0, offset=7
    )
    key, value, ref_headers = reference_letter(
        b"big", original, headers, source=(settings.topics.posts, 0, 7)
    )
    small = dead_letter_headers(
        stage="decode", error_type="not_json", message="x", topic=settings.topics.posts, partition=0, offset=8
    )
    producer = Producer(producer_config(settings.kafka))
    producer.produce(settings.topics.dlq, key=key, value=value, headers=ref_headers)
    producer.produce(settings.topics.dlq, key=b"small", value=b"{broken", headers=small)
    assert producer.flush(30) == 0

    letters = list(read_dead_letters(settings, settings.topics.dlq, None))
    assert [letter.reference for letter in letters] == [True, False]
    assert json.loads(letters[0].value or b"")["length"] == len(original)
    report = replay(settings, letters, Filter(), to_topic=None, dry_run=False)
    assert (report.replayed, report.refused, report.failed) == (1, 1, 0)
    with TopicReader(settings.kafka, settings.topics.posts) as reader:
        assert [m.value() for m in reader.messages(until_end=True)] == [b"{broken"]

    shown = modstream_cli(settings, "dlq", "show")
    assert shown.returncode == 0, shown.stderr
    assert f"REFERENCE (original {len(original)} bytes sha256=" in shown.stdout
    dry = modstream_cli(settings, "dlq", "replay", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "refused 1 (each said why)" in dry.stdout
    assert f"a reference letter holds no original (original {len(original)} bytes" in dry.stderr
    assert f"{settings.topics.posts}:0:7" in dry.stderr
