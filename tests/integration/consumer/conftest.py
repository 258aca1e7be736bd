"""Fixtures and helpers of the consumer's integration tests: tiny models in a registry, posts in, outputs out.

The models are `tiny` configs with random weights (two seeds, so a hot reload changes every score); they
are built once per session and saved into each test's own registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from pydantic import SecretStr

from consumer.service import ConsumerService
from events.dead_letter import parse_dead_letter_headers
from events.kafka import common_config, ensure_topics
from events.schemas import ModelUpdate, Result, encode
from events.settings import Settings
from tests.image_server import ImageServer
from tests.services import REDIS_URL

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class TinyModels:
    """Two tiny random-init models (different seeds) and their text encoder."""

    models: dict[str, Any]
    text: Any


@pytest.fixture(scope="session")
def tiny_models() -> TinyModels:
    import torch

    from model.config import ModelConfig
    from model.network import FusionClassifier
    from model.preprocess import TextEncoder

    config = ModelConfig.tiny()
    models = {}
    for seed in ("a", "b"):
        torch.manual_seed(1 if seed == "a" else 2)
        models[seed] = FusionClassifier(config, pretrained=False).eval()
    return TinyModels(models, TextEncoder.from_dir(config.tokenizer_source, config.max_length))


def publish_version(settings: Settings, tiny: TinyModels, seed: str, *, version: str | None = None) -> str:
    """Save tiny model `seed` into the settings' registry as its CURRENT version; returns the version."""
    from model.checkpoint import save_checkpoint
    from model.registry import ModelRegistry

    registry = ModelRegistry(Path(settings.model.registry))
    name = version or registry.new_version_name()

    def build(directory: Path) -> None:
        save_checkpoint(
            directory,
            tiny.models[seed],
            tokenizer_dir_or_textencoder=tiny.text,
            thresholds={},
            version=name,
            metrics={},
        )

    return registry.publish(build, version=name)


def load_predictor(settings: Settings, version: str) -> Any:
    from model.predictor import Predictor
    from model.registry import ModelRegistry

    return Predictor.load(ModelRegistry(Path(settings.model.registry)).path(version), device="cpu")


def announce(settings: Settings, version: str) -> None:
    """A model-updates event for `version` (the trainer's side of a hot reload)."""
    update = ModelUpdate(model_version=version, path=str(Path(settings.model.registry) / version))
    produce(settings, [(version, encode(update))], topic=settings.topics.model_updates)


def post(post_id: str, text: str | None = None, image_url: str | None = None) -> tuple[str, bytes]:
    body: dict[str, Any] = {"post_id": post_id}
    if text is not None:
        body["text"] = text
    if image_url is not None:
        body["image_url"] = image_url
    return post_id, json.dumps(body).encode()


def produce(
    settings: Settings, items: Sequence[tuple[str | None, bytes | None]], *, topic: str | None = None
) -> dict[str, tuple[int, int]]:
    """(key, raw value) pairs onto the posts topic (or `topic`), every one acknowledged.
    Returns where each keyed message landed: key -> (partition, offset)."""
    producer = Producer(common_config(settings.kafka) | {"acks": "all", "linger.ms": 5})
    landed: dict[str, tuple[int, int]] = {}

    def report(err: Any, msg: Any) -> None:
        assert err is None, err
        if msg.key() is not None:
            landed[msg.key().decode()] = (msg.partition(), msg.offset())

    for key, value in items:
        producer.produce(topic or settings.topics.posts, key=key, value=value, on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    return landed


def committed_offsets(settings: Settings) -> dict[int, int]:
    """The consumer group's committed offset per partition of the posts topic (0 when none)."""
    topic = settings.topics.posts
    probe = Consumer(common_config(settings.kafka) | {"group.id": settings.kafka.group_id})
    try:
        partitions = probe.list_topics(topic, timeout=10).topics[topic].partitions
        committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: max(tp.offset, 0) for tp in committed}
    finally:
        probe.close()


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as MODSTREAM_<SECTION>__<FIELD> environment variables (complex values as JSON)."""
    env: dict[str, str] = {}
    for section, values in settings.model_dump(mode="json").items():
        if not isinstance(values, dict):
            env[f"MODSTREAM_{section.upper()}"] = str(values)
            continue
        for name, value in values.items():
            if value is None:
                continue
            secret = getattr(getattr(settings, section), name)
            if isinstance(secret, SecretStr):  # dumped as '**********': pass the real one on
                value = secret.get_secret_value()
            text = value if isinstance(value, str) else json.dumps(value)
            env[f"MODSTREAM_{section.upper()}__{name.upper()}"] = text
    return env


class ConsumerProcess:
    """`modstream consume [options]` in a subprocess, configured through the environment as in production;
    its log goes to a file."""

    def __init__(
        self, settings: Settings, log_path: Path, *args: str, extra_env: dict[str, str] | None = None
    ) -> None:
        self.log_path = log_path
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODSTREAM_")}
        env = (
            inherited
            | settings_env(settings)
            | {
                "PYTHONPATH": str(ROOT),
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
            | (extra_env or {})
        )
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modstream.cli", "consume", *args],
            cwd=log_path.parent,  # no stray .env file
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self._log.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


@pytest.fixture
def consumer_processes() -> Iterator[list[ConsumerProcess]]:
    """Collects the processes a test starts, and kills any still running when it ends."""
    procs: list[ConsumerProcess] = []
    yield procs
    for proc in procs:
        proc.close()


def create_topics(settings: Settings) -> None:
    t = settings.topics
    ensure_topics(settings.kafka, [t.posts, t.results, t.dlq, t.model_updates])


@dataclass
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


@dataclass
class Outputs:
    results: list[Result]
    dead: list[DeadLetter]

    def by_post(self) -> dict[str, list[Result]]:
        out: dict[str, list[Result]] = {}
        for result in self.results:
            out.setdefault(result.post_id, []).append(result)
        return out

    def dead_by_key(self) -> dict[str, list[DeadLetter]]:
        out: dict[str, list[DeadLetter]] = {}
        for dead in self.dead:
            out.setdefault((dead.key or b"").decode("utf-8", "replace"), []).append(dead)
        return out


class OutputReader:
    """Reads the results and dead-letter topics from the beginning, incrementally."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer = Consumer(
            common_config(settings.kafka) | {"group.id": "reader", "enable.auto.commit": False}
        )
        tps = []
        for topic in (settings.topics.results, settings.topics.dlq):
            partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
            tps += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        self._consumer.assign(tps)
        self.outputs = Outputs([], [])

    def poll(self, timeout_s: float = 0.2) -> Outputs:
        for msg in self._consumer.consume(500, timeout=timeout_s):
            if msg.error() is not None:
                continue
            if msg.topic() == self._settings.topics.results:
                self.outputs.results.append(Result.model_validate_json(msg.value() or b""))
            else:
                self.outputs.dead.append(
                    DeadLetter(msg.key(), msg.value(), parse_dead_letter_headers(msg.headers()))  # type: ignore[arg-type]
                )
        return self.outputs

    def drain(self, quiet_s: float = 1.0) -> Outputs:
        """Poll until nothing new arrived for `quiet_s`."""
        while True:
            before = len(self.outputs.results) + len(self.outputs.dead)
            self.poll(quiet_s)
            if len(self.outputs.results) + len(self.outputs.dead) == before:
                return self.outputs

    def wait_for(self, total: int, timeout_s: float = 60.0, *, settle_s: float = 1.0) -> Outputs:
        """Poll until at least `total` outputs arrived, then a little longer so extras show up too."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            outputs = self.poll()
            if len(outputs.results) + len(outputs.dead) >= total:
                settle = time.monotonic() + settle_s
                while time.monotonic() < settle:
                    self.poll()
                return self.outputs
        got = len(self.outputs.results) + len(self.outputs.dead)
        raise AssertionError(f"{got} of {total} outputs after {timeout_s}s")

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def outputs_of() -> Iterator[Callable[[Settings], OutputReader]]:
    readers: list[OutputReader] = []

    def make(settings: Settings) -> OutputReader:
        reader = OutputReader(settings)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()


@contextlib.contextmanager
def running_consumer(settings: Settings, **options: Any) -> Iterator[ConsumerService]:
    """The consumer service on a thread of this process; stopped (drained) when the block ends."""
    service = ConsumerService(settings, **options)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            service.run()
        except BaseException as exc:  # surfaced in the test, not lost in a thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="consumer-under-test", daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop("test over")
        thread.join(timeout=settings.consumer.drain_grace_s + 30)
        assert not thread.is_alive(), "the consumer did not stop"
    if failure:
        raise failure[0]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def metric(service: ConsumerService, name: str, labels: dict[str, str] | None = None) -> float:
    value = service.metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture
def consumer_settings(
    make_settings: Callable[..., Settings], image_server: ImageServer
) -> Iterator[Callable[..., Settings]]:
    """make_settings with the consumer's test defaults: the image server allow-listed, short waits.
    The cache entries the test wrote are deleted afterwards."""
    made: list[Settings] = []

    def make(**sections: Any) -> Settings:
        base: dict[str, Any] = {
            "fetch": {
                "allow_hosts": [image_server.host],
                "connect_timeout_s": 1.0,
                "read_timeout_s": 1.0,
                "total_timeout_s": 2.0,
                "retries": 1,
            },
            "batch": {"max_size": 16, "max_wait_ms": 10},
            "consumer": {"commit_interval_s": 0.2, "drain_grace_s": 20, "poll_timeout_s": 0.05},
            "model": {"poll_interval_s": 60.0},
        }
        for name, value in sections.items():
            base[name] = base.get(name, {}) | value if isinstance(value, dict) else value
        settings = make_settings(**base)
        made.append(settings)
        return settings

    yield make
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        for settings in made:
            keys = list(client.scan_iter(match=settings.redis.key_prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
