"""Settings: environment names, validation of limits, and redaction of secrets."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from events.dead_letter import dead_letter_headers, parse_dead_letter_headers
from events.settings import Settings, redact_url


def test_defaults_match_the_design() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.kafka.bootstrap_servers == "localhost:9092"
    assert s.kafka.group_id == "modstream"
    assert (s.topics.posts, s.topics.results, s.topics.dlq) == ("posts", "moderation-results", "posts-dlq")
    assert (s.topics.feedback, s.topics.model_updates) == ("moderation-feedback", "model-updates")
    assert s.redis.url == "redis://localhost:6379/0"
    assert str(s.model.registry) == "models"
    assert s.fetch.allow_hosts == []
    assert s.device == "auto"


def test_nested_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("MODSTREAM_FETCH__ALLOW_HOSTS", '["127.0.0.1:8080", "images.local"]')
    monkeypatch.setenv("MODSTREAM_BATCH__MAX_SIZE", "8")
    monkeypatch.setenv("MODSTREAM_DEVICE", "cpu")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.fetch.allow_hosts == ["127.0.0.1:8080", "images.local"]
    assert s.batch.max_size == 8
    assert s.device == "cpu"


@pytest.mark.parametrize(
    ("name", "value"),
    [("MODSTREAM_BATCH__MAX_SIZE", "0"), ("MODSTREAM_DEVICE", "tpu"), ("MODSTREAM_FETCH__MAX_BYTES", "-1")],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_settings_are_frozen() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        s.device = "cpu"  # type: ignore[misc]


def test_secrets_never_reach_the_redacted_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_KAFKA__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("MODSTREAM_REDIS__URL", "redis://user:s3cret@cache:6379/1")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    text = json.dumps(s.redacted())
    assert "hunter2" not in text and "s3cret" not in text
    assert s.kafka.sasl_password is not None and s.kafka.sasl_password.get_secret_value() == "hunter2"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_dead_letter_headers_round_trip() -> None:
    headers = dead_letter_headers(
        stage="decode", error_type="not_json", message="x" * 5000, topic="posts", partition=2, offset=7
    )
    parsed = parse_dead_letter_headers(headers)  # type: ignore[arg-type]
    assert parsed["stage"] == "decode" and parsed["error.type"] == "not_json"
    assert (parsed["source.topic"], parsed["source.partition"], parsed["source.offset"]) == (
        "posts",
        "2",
        "7",
    )
    assert len(parsed["error.message"]) == 1000
