"""The wire contract: what decodes, what is refused and why."""

from __future__ import annotations

import json

import pytest

from events.schemas import (
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
