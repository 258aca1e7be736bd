"""Helpers for the trainer-service integration tests: produce feedback, read topics, run the service
in a subprocess (so it can be SIGKILLed), and peek at its store read-only."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from events.kafka import common_config, ensure_topics
from events.settings import Settings
from tests.image_server import ImageServer

RUNNER = Path(__file__).with_name("run_trainer.py")
ROOT = Path(__file__).parents[3]


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """The shared factory, with the feedback service's /metrics on an ephemeral port. The tests that
    predate the trust rules (crashes, outages, promotion) send anonymous decisions on posts nobody
    scored, so for them the source is trusted as a whole; the trust tests turn the rules back on."""

    def make(**sections: Any) -> Settings:
        trust = {
            "metrics_port": 0,
            "verify_content": False,
            "require_moderator": False,
            "moderator_max_share": 1.0,  # their decisions are anonymous: one moderator
        }
        return make_settings(**sections | {"feedback": trust | dict(sections.get("feedback", {}))})

    return make


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def create_topics(settings: Settings) -> None:
    t = settings.topics
    ensure_topics(settings.kafka, [t.feedback, t.results, t.feedback_dlq, t.model_updates])


def produce(settings: Settings, items: list[tuple[str, bytes]]) -> None:
    """(key, raw value) pairs onto the feedback topic, acknowledged."""
    producer = Producer(common_config(settings.kafka) | {"acks": "all", "linger.ms": 5})
    for key, value in items:
        producer.produce(settings.topics.feedback, key=key, value=value)
    assert producer.flush(30) == 0


def feedback(post_id: str, labels: list[str], **fields: Any) -> tuple[str, bytes]:
    body = {"post_id": post_id, "labels": labels, "decided_at": "2026-11-30T15:05:00Z"} | fields
    return post_id, json.dumps(body).encode()


def read_topic(settings: Settings, topic: str, *, expect: int, timeout_s: float = 30.0) -> list[Message]:
    """Every message of `topic` from the beginning (no group: partitions assigned directly)."""
    consumer = Consumer(common_config(settings.kafka) | {"group.id": "reader", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.5):
                if message.error() is None:
                    out.append(message)
            if len(out) >= expect:
                # one more short poll: more than expected must show up as a failure, not be missed
                out.extend(m for m in consumer.consume(100, timeout=1.0) if m.error() is None)
                break
        return out
    finally:
        consumer.close()


def committed_total(settings: Settings) -> int:
    """The sum of the trainer group's committed feedback offsets: the number of messages it has
    committed, since offsets count from 0 in every partition. (tansu's high watermarks are not to be
    trusted, so tests compare this with the number of messages they produced.)"""
    topic = settings.topics.feedback
    consumer = Consumer(common_config(settings.kafka) | {"group.id": settings.kafka.trainer_group_id})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()


def committed_keys(settings: Settings) -> set[str]:
    """The keys of every feedback message below the trainer group's committed offsets."""
    topic = settings.topics.feedback
    group = common_config(settings.kafka) | {"group.id": settings.kafka.trainer_group_id}
    probe = Consumer(group)
    try:
        partitions = probe.list_topics(topic, timeout=10).topics[topic].partitions
        committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        probe.close()
    reader = Consumer(common_config(settings.kafka) | {"group.id": "reader", "enable.auto.commit": False})
    keys: set[str] = set()
    try:
        for tp in committed:
            if tp.offset <= 0:
                continue
            reader.assign([TopicPartition(topic, tp.partition, OFFSET_BEGINNING)])
            deadline, seen = time.monotonic() + 20, 0
            while seen < tp.offset and time.monotonic() < deadline:
                for m in reader.consume(100, timeout=0.5):
                    offset, key = m.offset(), m.key()
                    if m.error() is None and offset is not None and offset < tp.offset and key is not None:
                        keys.add(key.decode())
                        seen += 1
            assert seen == tp.offset, (
                f"read {seen} of {tp.offset} committed messages of partition {tp.partition}"
            )
    finally:
        reader.close()
    return keys


def stored_ids(settings: Settings) -> set[str]:
    path = Path(settings.trainer.data_dir) / "feedback.sqlite3"
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return {row[0] for row in db.execute("SELECT post_id FROM examples")}
    except sqlite3.OperationalError:  # created but no table yet
        return set()


class TrainerProcess:
    """The trainer service in a subprocess; its log goes to a file the test can read."""

    def __init__(self, settings: Settings, log_path: Path, **options: Any) -> None:
        config = log_path.with_suffix(".settings.json")
        self.held_marker = config.with_name(config.name + ".held")  # run_trainer.py's hold_after_epoch
        config.write_text(
            json.dumps({"settings": json.loads(settings.model_dump_json()), "options": options})
        )
        self.log_path = log_path
        env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in kill/wait)
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                raise AssertionError(
                    f"trainer exited ({self.process.returncode}) before {what}:\n{self.log()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")

    def terminate(self) -> None:
        self.process.terminate()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"trainer did not exit within {timeout_s}s:\n{self.log()[-3000:]}") from None
        finally:
            self._log.close()


@pytest.fixture
def trainer_processes() -> Iterator[list[TrainerProcess]]:
    """Every process a test starts is killed at the end, whatever happened."""
    started: list[TrainerProcess] = []
    yield started
    for proc in started:
        if proc.process.poll() is None:
            proc.kill()
