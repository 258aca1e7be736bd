"""`modstream tail` on the real broker: results shown one per line, filters, JSON mode."""

from __future__ import annotations

import json
from collections.abc import Callable

from confluent_kafka import Producer

from events.kafka import ensure_topics, producer_config
from events.schemas import LabelScore, Result, encode
from events.settings import Settings


def _result(post_id: str, flagged: bool) -> Result:
    top = [LabelScore(label="Racist", score=0.9 if flagged else 0.1), LabelScore(label="NotHate", score=0.2)]
    return Result(
        post_id=post_id,
        labels=top,
        scores={s.label: s.score for s in top},
        flagged=flagged,
        model_version="v-test",
        image_status="absent",
    )


def _publish(settings: Settings, results: list[Result], junk: bytes | None = None) -> None:
    ensure_topics(settings.kafka, [settings.topics.results])
    producer = Producer(producer_config(settings.kafka))
    for result in results:
        producer.produce(settings.topics.results, value=encode(result), key=result.post_id.encode())
    if junk is not None:
        producer.produce(settings.topics.results, value=junk)
    assert producer.flush(30) == 0


def test_tail_shows_every_result_and_skips_junk(
    make_settings: Callable[..., Settings], modstream_cli: Callable[..., object]
) -> None:
    settings = make_settings()
    results = [_result(f"post-{i}", flagged=i % 3 == 0) for i in range(9)]
    _publish(settings, results, junk=b"not a result")
    proc = modstream_cli(settings, "tail", "--from-beginning", "--idle-exit", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sorted(line.split()[1] for line in lines) == sorted(r.post_id for r in results)
    assert sum(line.startswith("FLAG") for line in lines) == 3
    assert "not a result" in proc.stderr


def test_tail_flagged_only_as_json(
    make_settings: Callable[..., Settings], modstream_cli: Callable[..., object]
) -> None:
    settings = make_settings()
    results = [_result(f"post-{i}", flagged=i % 2 == 0) for i in range(6)]
    _publish(settings, results)
    proc = modstream_cli(
        settings, "tail", "--from-beginning", "--flagged-only", "--json", "--max-messages", "3"
    )
    assert proc.returncode == 0, proc.stderr
    shown = [Result.model_validate(json.loads(line)) for line in proc.stdout.splitlines()]
    assert len(shown) == 3 and all(r.flagged for r in shown)
    assert {r.post_id for r in shown} == {"post-0", "post-2", "post-4"}


def test_tail_of_a_missing_topic_exits_1(
    make_settings: Callable[..., Settings], modstream_cli: Callable[..., object]
) -> None:
    settings = make_settings()
    proc = modstream_cli(settings, "tail", "--idle-exit", "1")
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_sigint_stops_a_running_tail_within_2s(make_settings: Callable[..., Settings]) -> None:
    import signal
    import subprocess
    import sys
    import time

    from tests.integration.tools.conftest import ROOT, settings_env

    settings = make_settings()
    _publish(settings, [_result("post-0", flagged=True)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "modstream.cli", "tail", "--from-beginning"],
        env=settings_env(settings),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert "post-0" in proc.stdout.readline()  # it is in its read loop
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=30)
    took = time.monotonic() - started
    print(f"tail: SIGINT -> exit {code} in {took:.2f}s")
    assert code == 0 and took < 2.0, proc.stderr.read() if proc.stderr else ""
