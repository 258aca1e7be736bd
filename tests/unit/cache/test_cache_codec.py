"""Signed cache values: only a value signed with our key, for this key, that fits the serving model passes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import SecretStr

from consumer.cache_codec import ResultCodec, SigningKeyMissing, signing_key_for
from events.content import content_id
from events.schemas import Result, encode
from events.settings import RedisSettings

LABELS = ("NotHate", "Racist", "Sexist", "Homophobe")
CID = content_id("hello", None)
KEY = "p:key"


def _result(**changes: object) -> Result:
    base: dict[str, object] = {
        "post_id": "p1",
        "labels": [
            {"label": "Racist", "score": 0.9},
            {"label": "Sexist", "score": 0.5},
            {"label": "Homophobe", "score": 0.2},
        ],
        "scores": {"NotHate": 0.1, "Racist": 0.9, "Sexist": 0.5, "Homophobe": 0.2},
        "flagged": True,
        "model_version": "v1",
        "image_status": "absent",
        "content_id": CID,
    }
    return Result.model_validate(base | changes)


def _open(codec: ResultCodec, raw: bytes, key: str = KEY, cid: str | None = CID) -> str | None:
    opened = codec.open(key, raw, labels=LABELS, version="v1", content_id=cid)
    assert (opened.result is None) == (opened.reason is not None)
    return opened.reason


def test_a_sealed_value_opens() -> None:
    codec, result = ResultCodec(b"secret"), _result()
    opened = codec.open(KEY, codec.seal(KEY, encode(result)), labels=LABELS, version="v1", content_id=CID)
    assert opened.reason is None and opened.result == result


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (encode(_result()), "unsigned"),  # a valid-looking Result written straight into Redis
        (b"ms1:" + b"0" * 64 + b":" + encode(_result()), "bad_signature"),
        (ResultCodec(b"other key").seal(KEY, encode(_result())), "bad_signature"),
        (ResultCodec(b"secret").seal("p:another", encode(_result())), "bad_signature"),  # copied across keys
        (b"ms1:" + b"0" * 64, "unsigned"),
        (b"", "unsigned"),
        (ResultCodec(b"secret").seal(KEY, b'{"post_id": 1}'), "not_result"),
        (
            ResultCodec(b"secret").seal(KEY, encode(_result()).replace(b'"Racist":0.9', b'"Racist":NaN')),
            "not_result",
        ),
        (
            ResultCodec(b"secret").seal(
                KEY,
                encode(
                    _result(
                        scores={"NotHate": 0.1, "Racist": 0.9, "Sexist": 0.5, "Spam": 0.2},
                        labels=[
                            {"label": "Racist", "score": 0.9},
                            {"label": "Sexist", "score": 0.5},
                            {"label": "Spam", "score": 0.2},
                        ],
                    )
                ),
            ),
            "labels",
        ),
        (
            ResultCodec(b"secret").seal(
                KEY, encode(_result(labels=[{"label": "NotHate", "score": 0.1}], flagged=False))
            ),
            "labels",
        ),
        (ResultCodec(b"secret").seal(KEY, encode(_result(model_version="v0"))), "mismatch"),
        (ResultCodec(b"secret").seal(KEY, encode(_result(content_id=content_id("bye", None)))), "mismatch"),
        (ResultCodec(b"secret").seal(KEY, encode(_result(content_id=None))), "mismatch"),
    ],
)
def test_every_forgery_is_a_miss_with_its_reason(raw: bytes, reason: str) -> None:
    assert _open(ResultCodec(b"secret"), raw) == reason


def test_the_url_shortcut_does_not_know_the_content_id_yet() -> None:
    codec = ResultCodec(b"secret")
    assert _open(codec, codec.seal(KEY, encode(_result())), cid=None) is None


def test_a_shared_cache_needs_a_signing_key() -> None:
    with pytest.raises(SigningKeyMissing, match="MODSTREAM_REDIS__SIGNING_KEY"):
        signing_key_for(RedisSettings(url="redis://localhost:6379/0"))
    with pytest.raises(SigningKeyMissing):
        signing_key_for(RedisSettings(url="rediss://cache:6380/0", signing_key=SecretStr("")))
    assert signing_key_for(RedisSettings(url="redis://x", signing_key=SecretStr("k1"))) == b"k1"
    first = signing_key_for(RedisSettings(url="memory://"))
    assert len(first) == 32 and first != signing_key_for(RedisSettings(url="memory://"))  # random per process


def test_consume_refuses_to_start_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from consumer import cli

    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("MODSTREAM_REDIS__SIGNING_KEY", "MODSTREAM_CONSUMER__CACHE_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODSTREAM_REDIS__URL", "redis://127.0.0.1:6379/0")
    assert cli.run(argparse.Namespace(max_messages=None, idle_exit=None)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MODSTREAM_REDIS__SIGNING_KEY is not set" in err
