"""Pure parts of the tools: line reading, dead-letter filters, --since-offset, the tail line format."""

from __future__ import annotations

import json

import pytest

from events.schemas import LabelScore, Result
from modstream.dlq import DeadLetter, Filter, parse_since
from modstream.produce import read_lines
from modstream.tail import format_result


def _letter(stage: str, error_type: str) -> DeadLetter:
    return DeadLetter(0, 0, None, b"{}", {"stage": stage, "error.type": error_type})


@pytest.mark.parametrize(
    ("keep", "stage", "error_type", "accepted"),
    [
        (Filter(), "decode", "not_json", True),
        (Filter(stage="decode"), "decode", "not_json", True),
        (Filter(stage="fetch"), "decode", "not_json", False),
        (Filter(error_type="not_json"), "decode", "not_json", True),
        (Filter(error_type="timeout"), "decode", "not_json", False),
        (Filter(stage="decode", error_type="timeout"), "decode", "not_json", False),
        (Filter(stage="fetch", error_type="timeout"), "fetch", "timeout", True),
    ],
)
def test_filter(keep: Filter, stage: str, error_type: str, accepted: bool) -> None:
    assert keep.accepts(_letter(stage, error_type)) is accepted


def test_a_letter_without_headers_has_unknown_stage() -> None:
    letter = DeadLetter(0, 0, None, None, {})
    assert (letter.stage, letter.error_type) == ("?", "?")
    assert not Filter(stage="decode").accepts(letter)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("", None), ("120", 120), ("0:5", {0: 5}), ("0:120,2:98", {0: 120, 2: 98})],
)
def test_parse_since(text: str | None, expected: object) -> None:
    assert parse_since(text) == expected


def test_parse_since_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_since("a:b")


def test_read_lines_keys_valid_posts_and_names_invalid_ones() -> None:
    lines = [json.dumps({"post_id": "a", "text": "x"}) + "\n", "\n", "[1]\n", '{"post_id": "b"}\r\n']
    out = list(read_lines(lines))
    assert [(line.number, line.key, line.error is None) for line in out] == [
        (1, b"a", True),
        (3, None, False),
        (4, None, False),
    ]
    assert out[0].value == lines[0].rstrip("\n").encode()
    assert "not_object" in (out[1].error or "")
    assert all(line.error is None for line in read_lines(lines, raw=True))


def test_format_result() -> None:
    result = Result(
        post_id="p1",
        labels=[LabelScore(label="Racist", score=0.914), LabelScore(label="NotHate", score=0.1)],
        scores={"Racist": 0.914, "NotHate": 0.1},
        flagged=True,
        model_version="v1",
        image_status="failed",
        cached=True,
    )
    assert format_result(result) == "FLAG p1  Racist 0.91  NotHate 0.10  image=failed cached  v1"
    plain = format_result(result.model_copy(update={"flagged": False, "cached": False}))
    assert plain.startswith("ok   p1") and "cached" not in plain
    assert "\x1b[31mFLAG" in format_result(result, color=True)
