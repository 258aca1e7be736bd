"""docs/schemas/{post,feedback}.schema.json agree with the decoder: one corpus, the same verdicts.

A producer that validates against the published schema must never see its event dead-lettered, and an
event the schema refuses must be one the decoder refuses too (issue #11: `{"post_id": "1"}` validated
but was dead-lettered). Each event is checked by the schema (tests/unit/docs/json_schema_subset.py) and,
serialised, by events.schemas.decode_post / decode_feedback.

What a JSON Schema cannot say, and so is left out of the generated corpus and pinned as a known gap:
- timestamps: `format: date-time` is an annotation in 2020-12 and no keyword bounds a date, while the
  decoder refuses unparsable or out-of-range timestamps and accepts unix seconds (pydantic's lax
  datetime); the corpus sends RFC 3339 timestamps in range, and test_known_gaps shows the rest;
- the bytes themselves (size, UTF-8, depth, duplicate keys, NaN, huge integers, lone surrogates): the
  schema sees a parsed JSON value, the decoder's bounded parser sees bytes (tests/fuzz covers those).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from events.schemas import (
    MAX_POST_ID_CHARS,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    InvalidEvent,
    decode_feedback,
    decode_post,
)
from tests.unit.docs.json_schema_subset import errors, is_valid

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = {
    name: json.loads((ROOT / f"docs/schemas/{name}.schema.json").read_text()) for name in ("post", "feedback")
}
DECODERS = {"post": decode_post, "feedback": decode_feedback}
EXAMPLES = 2000  # per event type; the unit suite's sizeable-but-quick corpus

PY_SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()]
ECMA_ONLY_SPACE = "\ufeff"  # a regex `\s` in ECMA-262, but not str.isspace(): content to the decoder
MISSING = object()


def decoder_accepts(kind: str, value: Any) -> bool:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8")
    try:
        DECODERS[kind](raw)
    except InvalidEvent:
        return False
    return True


def _verdicts(kind: str, value: Any) -> tuple[bool, bool]:
    return is_valid(SCHEMAS[kind], value), decoder_accepts(kind, value)


# --- the corpus -------------------------------------------------------------------------------------------

_chars = st.characters(exclude_categories=["Cs"])  # lone surrogates: the bytes level, see above
_short = st.text(_chars, max_size=12)
_blank = st.lists(st.sampled_from([*PY_SPACES, ECMA_ONLY_SPACE]), min_size=1, max_size=4).map("".join)


def _around(limit: int, fill: str) -> st.SearchStrategy[str]:
    return st.integers(limit - 1, limit + 1).map(lambda n: fill * n)


def _strings(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(
        _short,
        _blank,
        st.just(""),
        st.tuples(_short, st.just("\x00"), _short).map("".join),
        st.tuples(_blank, _short, _blank).map("".join),
        _around(limit, "x"),
        _around(limit, " "),
    )


_non_strings = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-1, 1), st.just([]), st.just({})
)
_timestamps = st.sampled_from(["2026-11-30T15:00:00Z", "2001-02-03T04:05:06+02:00", "2099-12-31T23:59:59.5Z"])
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), _short)
_metadata = st.one_of(
    st.dictionaries(_short, _json_leaf, max_size=3), st.lists(_json_leaf, max_size=2), _json_leaf
)


_words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
_extras = st.dictionaries(st.sampled_from(["unknown", "platform", "lang"]), _json_leaf, max_size=2)


def _hostile(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(MISSING), st.none(), values, _non_strings)


@st.composite
def _event(
    draw: st.DrawFn, good: dict[str, st.SearchStrategy[Any]], bad: dict[str, st.SearchStrategy[Any]]
) -> Any:
    """A plausible event with none, one, two or three fields replaced by something hostile.

    Near misses find the edges of each rule; fully random events would almost all fail on the first field.
    """
    fields = {name: draw(strategy) for name, strategy in good.items()}
    for name in draw(st.lists(st.sampled_from(sorted(bad)), max_size=3, unique=True)):
        fields[name] = draw(bad[name])
    return {**draw(_extras), **{k: v for k, v in fields.items() if v is not MISSING}}


_optional_words = st.one_of(st.just(MISSING), st.none(), _words)
POSTS = _event(
    good={
        "post_id": _words,
        "text": _optional_words,
        "image_url": st.one_of(_words, st.just("https://img.example/a.png")),
        "created_at": st.one_of(st.just(MISSING), st.none(), _timestamps),
        "author_id": _optional_words,
        "metadata": st.one_of(st.just(MISSING), st.dictionaries(_short, _json_leaf, max_size=3)),
    },
    bad={
        "post_id": _hostile(_strings(MAX_POST_ID_CHARS)),
        "text": _hostile(_strings(MAX_TEXT_CHARS)),
        "image_url": _hostile(_strings(MAX_URL_CHARS)),
        "author_id": _hostile(_short),
        "metadata": _metadata,
    },
)
FEEDBACK = _event(
    good={
        "post_id": _words,
        "labels": st.one_of(st.just(MISSING), st.lists(_words, max_size=3)),
        "text": _words,
        "image_url": _optional_words,
        "moderator_id": _optional_words,
        "decided_at": st.one_of(st.just(MISSING), _timestamps),
    },
    bad={
        "post_id": _hostile(_strings(MAX_POST_ID_CHARS)),
        "labels": st.one_of(st.lists(st.one_of(_short, st.integers(0, 5)), max_size=3), _json_leaf),
        "text": _hostile(_strings(MAX_TEXT_CHARS)),
        "image_url": _hostile(_strings(MAX_URL_CHARS)),
        "moderator_id": _hostile(_short),
    },
)


@pytest.mark.parametrize(("kind", "events"), [("post", POSTS), ("feedback", FEEDBACK)])
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_schema_and_decoder_agree_on_a_generated_corpus(kind: str, events: Any, data: st.DataObject) -> None:
    value = data.draw(events)
    schema_ok, decoder_ok = _verdicts(kind, value)
    event(f"{kind}: {'valid' if decoder_ok else 'refused'}")  # --hypothesis-show-statistics: the mix
    assert schema_ok == decoder_ok, (
        f"{kind} {value!r:.300}: schema {'accepts' if schema_ok else 'refuses'} "
        f"({errors(SCHEMAS[kind], value)[:2]}), decoder {'accepts' if decoder_ok else 'refuses'}"
    )


# --- the rules one by one, both ways ---------------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("post", {"post_id": "1"}, False),  # the example: no content
    ("post", {"post_id": "1", "text": "hello"}, True),
    ("post", {"post_id": "1", "image_url": "https://img.example/a.png"}, True),
    ("post", {"post_id": "1", "text": None, "image_url": None}, False),
    ("post", {"post_id": "1", "text": " \t\n"}, False),  # blank text is no text
    ("post", {"post_id": "1", "text": "\x1c\x85\u3000"}, False),  # blank to str.strip(), not to ECMA's \s
    ("post", {"post_id": "1", "text": "\ufeff"}, True),  # ECMA's \s, but content to the decoder
    ("post", {"post_id": "1", "text": "  ", "image_url": "https://img.example/a.png"}, True),
    ("post", {"post_id": "1", "image_url": "   "}, False),
    ("post", {"post_id": "1", "text": "a\x00b"}, False),
    ("post", {"post_id": "a\x00", "text": "x"}, False),
    ("post", {"post_id": "1", "text": "x", "image_url": "\x00"}, False),
    ("post", {"post_id": 1, "text": "x"}, False),
    ("post", {"post_id": "", "text": "x"}, False),
    ("post", {"post_id": "p" * MAX_POST_ID_CHARS, "text": "x"}, True),
    ("post", {"post_id": "p" * (MAX_POST_ID_CHARS + 1), "text": "x"}, False),
    ("post", {"post_id": "1", "text": "x" * (MAX_TEXT_CHARS + 1)}, False),
    ("post", {"post_id": "1", "text": "x", "metadata": None}, False),
    ("post", {"post_id": "1", "text": "x", "author_id": 7}, False),
    ("post", {"post_id": "1", "text": "x", "whatever": [1, 2]}, True),  # unknown fields are ignored
    ("feedback", {"post_id": "1", "labels": ["Racist"]}, False),  # the other example
    ("feedback", {"post_id": "1", "labels": ["Racist"], "text": "t"}, True),
    ("feedback", {"post_id": "1", "labels": [], "image_url": "https://img.example/a.png"}, True),
    ("feedback", {"post_id": "1", "text": " "}, False),
    ("feedback", {"post_id": "1", "text": " ", "image_url": " "}, True),  # any image_url will do here
    ("feedback", {"post_id": "1", "image_url": ""}, False),
    ("feedback", {"post_id": "1", "text": "t", "labels": [3]}, False),
    ("feedback", {"post_id": "1", "text": "t", "labels": "Racist"}, False),
    ("feedback", {"post_id": "1", "text": "t", "moderator_id": 9}, False),
]


@pytest.mark.parametrize(
    ("kind", "value", "valid"), CASES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)]
)
def test_each_rule_both_ways(kind: str, value: dict[str, Any], valid: bool) -> None:
    assert _verdicts(kind, value) == (valid, valid), errors(SCHEMAS[kind], value)


@pytest.mark.parametrize(
    ("value", "schema_ok", "decoder_ok"),
    [
        ({"post_id": "1", "text": "x", "created_at": "not a date"}, True, False),
        ({"post_id": "1", "text": "x", "created_at": "1999-12-31T23:59:59Z"}, True, False),
        ({"post_id": "1", "text": "x", "created_at": 1_700_000_000}, False, True),
    ],
)
def test_known_gaps(value: dict[str, Any], schema_ok: bool, decoder_ok: bool) -> None:
    """Timestamps: what JSON Schema cannot express. A change on either side shows up here."""
    assert _verdicts("post", value) == (schema_ok, decoder_ok)
