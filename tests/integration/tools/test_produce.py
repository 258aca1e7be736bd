"""`modstream produce`: lines go out unchanged, keyed by post_id; invalid lines are named and skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from events.settings import Settings
from modstream.produce import produce_lines, read_lines
from modstream.topic_reader import TopicReader

LINES = [
    json.dumps({"post_id": "p1", "text": "hello"}),
    "",
    json.dumps({"post_id": "p2", "image_url": "http://img.test/a.jpg", "extra": [1, 2]}),
    "{not json",
    json.dumps({"post_id": "p3"}),  # neither text nor image
    json.dumps({"post_id": "p4", "text": "caf\u00e9 \u2603"}, ensure_ascii=False),
]


def _read_all(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    with TopicReader(settings.kafka, topic) as reader:
        return [(m.key(), m.value()) for m in reader.messages(until_end=True)]


def test_valid_lines_are_delivered_byte_for_byte_and_invalid_ones_skipped(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    report = produce_lines(settings, read_lines(LINES))
    assert report.delivered == 3 and not report.failed
    assert [line.number for line in report.skipped] == [4, 5]
    assert "not_json" in (report.skipped[0].error or "")
    sent = sorted(_read_all(settings, settings.topics.posts))
    expected = sorted((json.loads(LINES[i])["post_id"].encode(), LINES[i].encode()) for i in (0, 2, 5))
    assert sent == expected


def test_raw_sends_every_non_blank_line(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    report = produce_lines(settings, read_lines(LINES, raw=True))
    assert report.delivered == 5 and report.ok
    values = sorted(v for _k, v in _read_all(settings, settings.topics.posts))
    assert values == sorted(line.encode() for line in LINES if line)


def test_cli_reports_skipped_lines_and_exits_1(
    make_settings: Callable[..., Settings], modstream_cli: Callable[..., object], tmp_path: Path
) -> None:
    settings = make_settings()
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    proc = modstream_cli(settings, "produce", str(path))
    assert proc.returncode == 1, proc.stderr
    assert "skipped line 4" in proc.stderr and "skipped line 5" in proc.stderr
    assert f"delivered 3 posts to {settings.topics.posts}" in proc.stdout
    assert len(_read_all(settings, settings.topics.posts)) == 3


def test_cli_reads_stdin_and_exits_0_when_all_delivered(
    make_settings: Callable[..., Settings], modstream_cli: Callable[..., object]
) -> None:
    settings = make_settings()
    good = "\n".join(LINES[i] for i in (0, 2)) + "\n"
    proc = modstream_cli(settings, "produce", "-", stdin=good)
    assert proc.returncode == 0, proc.stderr
    assert {k for k, _v in _read_all(settings, settings.topics.posts)} == {b"p1", b"p2"}
