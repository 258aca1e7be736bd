"""`modstream broker`: a working Kafka endpoint; a signal stops it and the tansu child with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from events.kafka import ensure_topics, producer_config
from events.settings import KafkaSettings
from modstream.broker import wait_until_ready
from modstream.topic_reader import TopicReader
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_broker_serves_and_stops_on_a_signal(sig: signal.Signals) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modstream.cli", "broker", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_ready(f"127.0.0.1:{port}", timeout_s=30, proc=None)
        children = _children(proc.pid)
        assert len(children) == 1, "the broker runs as one child process"
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
        ensure_topics(kafka, ["smoke"], partitions=1)
        producer = Producer(producer_config(kafka))
        producer.produce("smoke", value=b"hello", key=b"k")
        assert producer.flush(20) == 0
        with TopicReader(kafka, "smoke") as reader:
            assert [m.value() for m in reader.messages(until_end=True)] == [b"hello"]
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 5
        while _alive(children[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(children[0]), "tansu outlived modstream broker"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
