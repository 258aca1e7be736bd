"""The wire contract: what decodes, what is refused and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from events.schemas import (
    MAX_JSON_DEPTH,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    InvalidEvent,
    Result,
    decode_feedback,
    decode_model_update,
    decode_post,
    encode,
)


def _raw(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"\xff\xfe not utf-8", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"a string"', "not_object"),
        (_raw({"text": "no id"}), "schema"),
        (_raw({"post_id": "", "text": "empty id"}), "schema"),
        (_raw({"post_id": "x" * 257, "text": "id too long"}), "schema"),
        (_raw({"post_id": 123, "text": "numeric id"}), "schema"),
        (_raw({"post_id": "1", "text": 5}), "schema"),
        (_raw({"post_id": "1", "image_url": ["a"]}), "schema"),
        (_raw({"post_id": "1"}), "schema"),
        (_raw({"post_id": "1", "text": "   ", "image_url": ""}), "schema"),
        (_raw({"post_id": "1", "text": "nul \u0000 byte"}), "schema"),
        (_raw({"post_id": "1", "text": "x" * (MAX_TEXT_CHARS + 1)}), "schema"),
        (_raw({"post_id": "1", "text": "a", "created_at": "yesterday"}), "schema"),
        (b"{" + b" " * MAX_MESSAGE_BYTES + b"}", "oversized"),
    ],
)
def test_invalid_posts_are_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_post(raw)
    assert err.value.reason == reason


def test_valid_post_ignores_unknown_fields_and_keeps_content() -> None:
    post = decode_post(
        _raw({"post_id": "42", "text": "hello", "image_url": "https://x/y.jpg", "extra": {"a": 1}})
    )
    assert (post.post_id, post.text, post.image_url) == ("42", "hello", "https://x/y.jpg")


@pytest.mark.parametrize("content", [{"text": "only text"}, {"image_url": "https://x/y.png"}])
def test_a_post_needs_only_one_modality(content: dict[str, str]) -> None:
    assert decode_post(_raw({"post_id": "1", **content})).post_id == "1"


def test_result_round_trips_through_json() -> None:
    result = Result(
        post_id="1",
        labels=[{"label": "Racist", "score": 0.9}, {"label": "NotHate", "score": 0.2}],  # type: ignore[list-item]
        scores={"Racist": 0.9, "NotHate": 0.2},
        flagged=True,
        model_version="v1",
        image_status="ok",
    )
    again = Result.model_validate_json(encode(result))
    assert again == result


def test_feedback_and_model_update_decode() -> None:
    fb = decode_feedback(_raw({"post_id": "1", "labels": ["Racist"], "text": "t"}))
    assert fb.labels == ["Racist"]
    with pytest.raises(InvalidEvent):
        decode_feedback(_raw({"post_id": "1", "labels": "Racist", "text": "t"}))
    with pytest.raises(InvalidEvent):
        decode_feedback(_raw({"post_id": "1", "labels": []}))
    update = decode_model_update(_raw({"model_version": "v2", "path": "/m/v2", "metrics": {"f1": 0.5}}))
    assert update.model_version == "v2"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000, "too_deep"),
        (b'{"post_id": "1", "text": "a", "metadata": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, "too_deep"),
        (b'{"post_id": "1", "text": "a", "post_id": "2"}', "duplicate_key"),
        (b'{"post_id": "1", "text": "\\ud800"}', "bad_unicode"),
        (b'{"post_id": "1", "text": "a", "metadata": {"k": ["\\udfff"]}}', "bad_unicode"),
        (b'{"post_id": "1", "text": "a", "n": NaN}', "not_finite"),
        (b'{"post_id": "1", "text": "a", "n": 1e999}', "not_finite"),
        (b'{"post_id": "1", "text": "a", "n": ' + b"9" * 5000 + b"}", "big_int"),
        (_raw({"post_id": "1", "text": "a", "created_at": "9999-12-31T23:59:59-05:00"}), "schema"),
        (_raw({"post_id": "1", "text": "a", "created_at": "0001-01-01T00:00:00+05:00"}), "schema"),
        (_raw({"post_id": "1", "text": "a", "created_at": "1999-12-31T23:59:59Z"}), "schema"),
        (_raw({"post_id": "1", "text": "a", "created_at": "2100-01-01T00:00:00Z"}), "schema"),
    ],
)
def test_hostile_json_is_refused_before_it_can_hurt(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_post(raw)
    assert err.value.reason == reason


def test_depth_within_the_limit_and_brackets_inside_strings_are_fine() -> None:
    nested = b'{"a": ' * (MAX_JSON_DEPTH - 2) + b"1" + b"}" * (MAX_JSON_DEPTH - 2)
    raw = (
        b'{"post_id": "1", "text": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[[", "metadata": '
        + nested
        + b"}"
    )
    assert decode_post(raw).text is not None
    assert decode_post(b'{"post_id": "1", "text": "\\ud83d\\ude00"}').text == "\U0001f600"  # a valid pair


def test_feedback_far_future_decided_at_is_invalid_not_an_overflow_later() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_feedback(_raw({"post_id": "1", "text": "t", "decided_at": "9999-12-31T23:59:59-05:00"}))
    assert err.value.reason == "schema"
    naive = decode_feedback(_raw({"post_id": "1", "text": "t", "decided_at": "2026-01-01T10:00:00"}))
    assert naive.decided_at == datetime(2026, 1, 1, 10, tzinfo=UTC)  # no zone: taken as UTC
    with pytest.raises(InvalidEvent):
        decode_feedback(b'{"post_id": "1", "text": "t", "labels": ' + b"[" * 5000 + b"]" * 5000 + b"}")


def test_any_unexpected_failure_is_an_invalid_event(monkeypatch: pytest.MonkeyPatch) -> None:
    import events.schemas as schemas

    def broken(text: str, *, max_depth: int) -> object:
        raise MemoryError("pretend")

    monkeypatch.setattr(schemas, "loads_strict", broken)
    with pytest.raises(InvalidEvent) as err:
        decode_post(b'{"post_id": "1", "text": "a"}')
    assert err.value.reason == "internal" and "MemoryError" in err.value.detail
