"""Session fixtures for real services, and factories for uniquely named topics, groups and settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from events.kafka import ensure_topics
from events.settings import KafkaSettings, Settings
from tests.services import REDIS_URL, Broker, run_broker, unique


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    with run_broker() as b:
        yield b


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:  # .ci/run starts one; a developer machine runs one
        pytest.fail(f"Redis does not answer at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def make_settings(broker: Broker, redis_url: str, tmp_path: Any) -> Callable[..., Settings]:
    """Settings on the test broker with fresh topic names, group ids, registry and cache namespace.

    Keyword arguments override whole sections: make_settings(batch={"max_size": 8}).
    """

    def make(**sections: Any) -> Settings:
        suffix = unique("t")
        base: dict[str, Any] = {
            "kafka": {
                "bootstrap_servers": broker.bootstrap,
                "group_id": f"modstream-{suffix}",
                "trainer_group_id": f"trainer-{suffix}",
                "session_timeout_ms": 6000,
                "topic_partitions": 3,
            },
            "topics": {
                "posts": f"posts-{suffix}",
                "results": f"results-{suffix}",
                "dlq": f"dlq-{suffix}",
                "feedback": f"feedback-{suffix}",
                "feedback_dlq": f"feedback-dlq-{suffix}",
                "model_updates": f"updates-{suffix}",
            },
            # the shared Redis needs a signing key (consumer/cache_codec.py); one per test
            "redis": {
                "url": redis_url,
                "key_prefix": f"modstream-test:{suffix}:",
                "signing_key": f"test-signing-key-{suffix}",
            },
            "model": {"registry": str(tmp_path / f"registry-{suffix}")},
            "trainer": {"data_dir": str(tmp_path / f"trainer-{suffix}")},
            "metrics": {"port": 0, "test_only_ephemeral_port": True},  # a free port, never a fixed one
            "device": "cpu",
        }
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(base.get(name), dict):
                base[name] = base[name] | value
            else:
                base[name] = value
        return Settings(_env_file=None, **base)  # type: ignore[call-arg]

    return make


@pytest.fixture
def kafka_topics(broker: Broker) -> Callable[..., list[str]]:
    """Create uniquely named topics: kafka_topics("posts", "results", partitions=3)."""

    def make(*prefixes: str, partitions: int = 3) -> list[str]:
        names = [unique(p) for p in prefixes]
        ensure_topics(KafkaSettings(bootstrap_servers=broker.bootstrap), names, partitions=partitions)
        return names

    return make
