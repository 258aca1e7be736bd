"""The review console as the tests run it: `modstream review` in a child process, on the test broker.

>>> with run_console(settings, users={"alice": "pw"}, allow_hosts=[images.host]) as console:
...     publish(settings, posts=[post], results=[result])
...     httpx.get(console.url + "api/cards", auth=("alice", "pw"))
...     read_feedback(settings, expect=1)
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

from events.kafka import producer_config
from events.schemas import Feedback, LabelScore, Post, Result, decode_feedback, encode
from events.settings import Settings
from modstream.topic_reader import TopicReader

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["NotHate", "Racist", "Sexist", "Homophobe", "Religion", "OtherHate"]


@dataclass
class Console:
    url: str  # http://127.0.0.1:PORT/
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    @property
    def host(self) -> str:
        return self.origin.split("//", 1)[1]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise LookupError("no VmRSS")


def console_env(
    settings: Settings, users: dict[str, str] | None, allow_hosts: Sequence[str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODSTREAM_")}
    env["PYTHONPATH"] = str(ROOT)
    env["MODSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
    env["MODSTREAM_KAFKA__TOPIC_PARTITIONS"] = str(settings.kafka.topic_partitions)
    env["MODSTREAM_KAFKA__CREATE_TOPICS"] = str(settings.kafka.create_topics).lower()
    for name, value in settings.topics.model_dump().items():
        env[f"MODSTREAM_TOPICS__{name.upper()}"] = value
    env["MODSTREAM_FETCH__ALLOW_HOSTS"] = json.dumps(list(allow_hosts))
    for name, value in settings.review.model_dump().items():
        if name != "users":
            env[f"MODSTREAM_REVIEW__{name.upper()}"] = str(value)
    if users is not None:
        env["MODSTREAM_REVIEW__USERS"] = json.dumps(users)
    return env


@contextlib.contextmanager
def run_console(
    settings: Settings,
    *,
    users: dict[str, str] | None,
    allow_hosts: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> Iterator[Console]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "modstream.cli", "review", "--port", "0", *extra_args],
        env=console_env(settings, users, allow_hosts),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    url = None
    try:
        while url is None:
            left = deadline - time.monotonic()
            if left <= 0 or (proc.poll() is not None and lines.empty()):
                raise RuntimeError(f"console did not start: {''.join(output)[-3000:]}")
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=min(left, 0.5))
                if line.startswith("REVIEW url="):
                    url = line.split("=", 1)[1].strip()
        yield Console(url, proc, output)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_result(
    post_id: str, *, flagged: bool, top: str = "Racist", version: str = "v-test", image_status: str = "ok"
) -> Result:
    scores = {name: round(0.02 + 0.01 * i, 2) for i, name in enumerate(LABELS)} | {top: 0.91}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
    return Result(
        post_id=post_id,
        labels=[LabelScore(label=k, score=v) for k, v in ranked],
        scores=scores,
        flagged=flagged,
        model_version=version,
        image_status=image_status,  # type: ignore[arg-type]
    )


def publish(
    settings: Settings,
    *,
    posts: Sequence[Post] = (),
    results: Sequence[Result] = (),
    raw: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Publish and wait for the broker's acknowledgement of every message."""
    producer = Producer(producer_config(settings.kafka))
    failures: list[str] = []

    def check(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for post in posts:
        producer.produce(
            settings.topics.posts, key=post.post_id.encode(), value=encode(post), on_delivery=check
        )
    for result in results:
        producer.produce(
            settings.topics.results, key=result.post_id.encode(), value=encode(result), on_delivery=check
        )
    for topic, value in raw:
        producer.produce(topic, value=value, on_delivery=check)
        producer.poll(0)
    assert producer.flush(30) == 0, "messages not acknowledged"
    assert not failures, failures


def read_all(client: httpx.Client, messages: int, *, what: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """The console's /api/status once its feed has read at least `messages` posts and results: the way to
    know a burst is in (which card is newest depends on the order the partitions are read in)."""
    deadline = time.monotonic() + timeout_s
    while (status := client.get("api/status").json())["feed"]["read"] < messages:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {status}")
        time.sleep(0.1)
    return status  # type: ignore[no-any-return]


def read_feedback(settings: Settings, *, idle_s: float = 3.0) -> list[Feedback]:
    """Every Feedback on the feedback topic, read until nothing new came for `idle_s`."""
    with TopicReader(settings.kafka, settings.topics.feedback, start="beginning") as reader:
        return [decode_feedback(msg.value()) for msg in reader.messages(idle_exit_s=idle_s)]
