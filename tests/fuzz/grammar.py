"""A grammar of hostile messages for posts and feedback (hypothesis strategies), as raw Kafka values.

    >>> raw = posts().example()            # bytes | None: what a hostile producer may put on `posts`

Every message is drawn from one of these families, each aimed at a limit or an assumption:

    valid          a well-formed event (so the happy path is fuzzed too)
    mutated        a valid event with one or more fields dropped, nulled, retyped (int, float, bool,
                   list, object, huge string), given NULs, lone surrogates or extreme numbers, a key
                   duplicated, the bytes truncated, a byte flipped, or junk appended
    deep           nesting `[`, `{"a":` at depths around MAX_JSON_DEPTH and far beyond (100 KB of `[`)
    sized          valid or invalid events padded to sizes at and around every limit: the decoder's
                   MAX_MESSAGE_BYTES, the producer's message.max.bytes less the letter headroom
    numbers        extreme JSON numbers: 1e999, -1e999, NaN, Infinity, 5000-digit integers, -0, 1e-400
    datetimes      timestamps at and past the accepted range, with odd zones, naive, or not dates
    unicode        invalid UTF-8, overlong encodings, encoded surrogates, BOMs, NUL, escaped lone
                   surrogates, valid astral characters
    junk           arbitrary bytes, empty, whitespace, top-level non-objects, and None (a tombstone)

Large messages are built from small drawn parameters (a size and a filler), never drawn byte by byte.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from events.dead_letter import LETTER_HEADROOM
from events.kafka import PRODUCER_MAX_MESSAGE_BYTES
from events.schemas import MAX_JSON_DEPTH, MAX_MESSAGE_BYTES, MAX_POST_ID_CHARS, MAX_TEXT_CHARS, MAX_URL_CHARS

LABELS = ["NotHate", "Racist", "Sexist", "Homophobe", "Religion", "OtherHate"]

# every size that is a limit somewhere, and its neighbours
LIMIT_SIZES = sorted(
    {
        n + d
        for n in (MAX_MESSAGE_BYTES, PRODUCER_MAX_MESSAGE_BYTES - LETTER_HEADROOM, PRODUCER_MAX_MESSAGE_BYTES)
        for d in (-2000, -300, -1, 0, 1, 300)
    }
)
DEPTHS = [
    MAX_JSON_DEPTH - 3,
    MAX_JSON_DEPTH - 2,
    MAX_JSON_DEPTH - 1,
    MAX_JSON_DEPTH,
    MAX_JSON_DEPTH + 1,
    100,
    1000,
    100_000,
]

EXTREME_NUMBERS = [
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    "9" * 5000,
    "-0",
    "1e-400",
    "0.1e310",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "1.0",
]

DATETIMES = [
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00Z",
    "1999-12-31T23:59:59.999999Z",
    "2000-01-01T00:00:00Z",
    "2099-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2100-01-01T04:59:59+05:00",
    "2026-11-30T15:00:00",
    "2026-11-30T15:00:00+25:00",
    "2026-02-30T00:00:00Z",
    "2026-11-30",
    "yesterday",
    "",
    "2026-11-30T15:00:00Z\u0000",
    "1e20",
]

BAD_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xc3",
    b"\xef\xbb\xbf",
]

ESCAPES = ["\\ud800", "\\udfff", "\\ud83d", "\\ude00x", "\\u0000", "\\ud83d\\ude00", "\\uffff", "\\u"]


def _text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
        st.sampled_from(["", " ", "\u0000", "a\u0000b", "\U0001f600", "\u202e", "\ufeff", "x" * 300]),
    )


def _scalar() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _text()
    )


def _json_value(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalar(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=max_leaves,
    )


def _wrong_type() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(_scalar(), max_size=3),
        st.dictionaries(st.text(max_size=5), _scalar(), max_size=3),
        st.sampled_from(
            ["x" * (MAX_TEXT_CHARS + 1), "y" * (MAX_URL_CHARS + 1), "z" * (MAX_POST_ID_CHARS + 1)]
        ),
        _text(),
    )


def _url() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "http://img.test/a.png",
                "https://img.test/b.jpg",
                "http://127.0.0.1/x",
                "ftp://x/y",
                "not a url",
                "http://[::1]/",
                "http://img.test/" + "a" * 3000,
                "javascript:alert(1)",
                "http://\u0000/",
            ]
        ),
        _text(),
    )


@st.composite
def valid_post(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "post_id": draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
    }
    modality = draw(st.sampled_from(["text", "image", "both"]))
    if modality in ("text", "both"):
        body["text"] = draw(st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s))
    if modality in ("image", "both"):
        body["image_url"] = draw(st.sampled_from(["http://img.test/a.png", "https://img.test/b.jpg"]))
    if draw(st.booleans()):
        body["created_at"] = draw(st.sampled_from(["2026-11-30T15:00:00Z", "2026-11-30T15:00:00+05:00"]))
    if draw(st.booleans()):
        body["author_id"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        body["metadata"] = draw(st.dictionaries(st.text(max_size=5), _json_value(), max_size=3))
    return body


@st.composite
def valid_feedback(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "post_id": draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
    }
    body["labels"] = draw(st.lists(st.sampled_from([*LABELS, "Unknown"]), max_size=3))
    modality = draw(st.sampled_from(["text", "image", "both"]))
    if modality in ("text", "both"):
        body["text"] = draw(st.text(min_size=1, max_size=60).filter(lambda s: s.strip()))
    if modality in ("image", "both"):
        body["image_url"] = draw(
            st.sampled_from(
                [
                    "http://img.test/ok.png",
                    "http://img.test/bad.png",
                    "http://img.test/blocked.png",
                    "http://img.test/junk.png",
                ]
            )
        )
    if draw(st.booleans()):
        body["moderator_id"] = draw(st.text(max_size=10))
    body["decided_at"] = draw(
        st.sampled_from(["2026-11-30T15:05:00Z", "2026-11-30T15:05:00", "2030-01-01T00:00:00+09:00"])
    )
    return body


@st.composite
def _mutate(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]], fields: list[str]) -> bytes:
    body = dict(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(fields))
        action = draw(st.sampled_from(["drop", "null", "retype", "nul", "datetime"]))
        if action == "drop":
            body.pop(field, None)
        elif action == "null":
            body[field] = None
        elif action == "retype":
            body[field] = draw(_wrong_type())
        elif action == "nul":
            body[field] = f"{body.get(field, '')}\u0000"
        else:
            body[field] = draw(st.sampled_from(DATETIMES))
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    # text-level mutations: what json.dumps would never write
    textual = draw(st.sampled_from(["none", "dup", "escape", "number", "deep_field"]))
    if textual == "dup" and body:
        key = draw(st.sampled_from(sorted(body)))
        text = text[:-1] + ", " + json.dumps(key) + ": " + json.dumps(draw(_scalar())) + "}"
    elif textual == "escape":
        field = draw(st.sampled_from(fields))
        sep = ", " if body else ""
        text = text[:-1] + f'{sep}"{field}": "a{draw(st.sampled_from(ESCAPES))}b"' + "}"
    elif textual == "number":
        field = draw(st.sampled_from([*fields, "metadata", "extra"]))
        sep = ", " if body else ""
        text = text[:-1] + f'{sep}"{field}": {draw(st.sampled_from(EXTREME_NUMBERS))}' + "}"
    elif textual == "deep_field":
        depth = draw(st.sampled_from(DEPTHS[:6]))
        sep = ", " if body else ""
        text = text[:-1] + sep + '"metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    raw = text.encode("utf-8", "surrogatepass")
    byte_action = draw(st.sampled_from(["none"] * 6 + ["truncate", "flip", "append", "bad_utf8"]))
    if byte_action == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif byte_action == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    elif byte_action == "append":
        raw += draw(st.sampled_from([b" ", b"x", b"}", b",", b"\x00", b"{}"]))
    elif byte_action == "bad_utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(BAD_UTF8)) + raw[at:]
    return raw


@st.composite
def _deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from(DEPTHS))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"a":[', b"]}")]))
    closed = draw(st.booleans())
    inner = opener * depth + b"1" + (closer * depth if closed else b"")
    if draw(st.booleans()):  # inside a post, where a schema would accept it
        return b'{"post_id": "deep", "text": "t", "metadata": {"x": ' + inner + b"}}"
    return inner


@st.composite
def _sized(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    size = draw(st.sampled_from(LIMIT_SIZES))
    body = dict(draw(base))
    where = draw(st.sampled_from(["text", "metadata", "junk_tail", "brackets", "image_only"]))
    if where == "image_only":
        body.pop("text", None)
        body["image_url"] = "http://img.test/a.png"
    if where == "brackets":
        return (b"[" * size)[:size]
    skeleton = json.dumps(body | {"pad": ""}).encode()
    fill = max(0, size - len(skeleton))
    if where == "text":
        body["text"] = "t" * fill  # over MAX_TEXT_CHARS: a schema error, at any size
    body["pad"] = draw(st.sampled_from(["p", "\u00e9", "["])) * fill
    raw = json.dumps(body, ensure_ascii=False).encode()
    raw = raw[:size] if len(raw) > size else raw + b" " * (size - len(raw))
    if where == "junk_tail":
        raw = raw[:-1] + b"\xff"
    return raw


@st.composite
def _unicode(draw: st.DrawFn) -> bytes:
    bad = draw(st.sampled_from(BAD_UTF8))
    field = draw(st.sampled_from(["post_id", "text", "image_url", "author_id"]))
    template = draw(
        st.sampled_from(['{"post_id": "1", "text": "a", "FIELD": "XX"}', '{"FIELD": "XX", "text": "b"}'])
    )
    prefix, _, suffix = template.replace("FIELD", field).partition("XX")
    if draw(st.booleans()):
        return prefix.encode() + bad + suffix.encode()
    return (prefix + draw(st.sampled_from(ESCAPES)) + suffix).encode()


def _junk() -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.binary(max_size=200),
        st.sampled_from(
            [b"", b" ", b"null", b"[]", b"1", b'"s"', b"true", b"{}", b"\x00", b"{" * 3, b'{"":""}']
        ),
        _json_value().map(lambda v: json.dumps(v).encode()),
    )


@st.composite
def valid_result(draw: st.DrawFn) -> dict[str, Any]:
    """A Result as a consumer publishes it (the feedback service indexes these by post_id)."""
    scores = {label: draw(st.floats(0, 1)) for label in LABELS}
    top = sorted(scores.items(), key=lambda pair: pair[1], reverse=True)[:3]
    return {
        "post_id": draw(st.text(min_size=1, max_size=40)),
        "labels": [{"label": label, "score": score} for label, score in top],
        "scores": scores,
        "flagged": draw(st.booleans()),
        "model_version": draw(st.sampled_from(["v1", "v20261201T000000Z-abcdef", ""])),
        "image_status": draw(st.sampled_from(["ok", "absent", "failed", "blocked", "weird"])),
        "cached": draw(st.booleans()),
        "content_id": draw(st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64))),
        "processed_at": draw(st.sampled_from(DATETIMES)),
    }


POST_FIELDS = ["post_id", "text", "image_url", "created_at", "author_id", "metadata"]
FEEDBACK_FIELDS = ["post_id", "labels", "text", "image_url", "moderator_id", "decided_at"]


def _hostile(valid: st.SearchStrategy[dict[str, Any]], fields: list[str]) -> st.SearchStrategy[bytes | None]:
    """Hostile values for a topic whose valid events `valid` draws: valid ones, field mutations (twice the
    weight), deep nesting, sizes at the limits, odd unicode and plain junk."""
    return st.one_of(
        valid.map(lambda b: json.dumps(b).encode()),
        _mutate(valid, fields),
        _mutate(valid, fields),
        _deep(),
        _sized(valid),
        _unicode(),
        _junk(),
    )


def posts() -> st.SearchStrategy[bytes | None]:
    """Hostile values for the `posts` topic."""
    return _hostile(valid_post(), POST_FIELDS)


def feedback() -> st.SearchStrategy[bytes | None]:
    """Hostile values for the `moderation-feedback` topic."""
    return _hostile(valid_feedback(), FEEDBACK_FIELDS)


RESULT_FIELDS = ["post_id", "labels", "scores", "flagged", "model_version", "image_status", "content_id"]


def results() -> st.SearchStrategy[bytes | None]:
    """Hostile values for the `moderation-results` topic (anyone who can write to it)."""
    return _hostile(valid_result(), RESULT_FIELDS)


def keys() -> st.SearchStrategy[bytes | None]:
    return st.one_of(st.none(), st.binary(max_size=40), st.sampled_from([b"k" * 5000, b"\xff\xfe"]))
