"""Bounded JSON: parse hostile bytes into plain objects with explicit limits, before any schema sees them.

    >>> loads_strict('{"a": [1, 2]}', max_depth=4)
    {'a': [1, 2]}
    >>> loads_strict('[[[[1]]]]', max_depth=3)
    Traceback (most recent call last):
    ...
    events.strict_json.JsonRefused: too_deep: nesting depth exceeds 3

What the standard `json.loads` lets through, and what is refused here (each with a short reason):

    too_deep        nesting deeper than `max_depth`: measured by a linear scan BEFORE parsing, so the
                    recursive parser never sees 100 KB of `[` (it would raise RecursionError)
    duplicate_key   an object with the same key twice (which one wins differs between parsers)
    not_finite      NaN, Infinity, or a number too large for a float (1e999 parses to inf)
    big_int         an integer of more than MAX_INT_DIGITS digits (int parsing is quadratic)
    bad_unicode     a lone surrogate (`"\\ud800"`): valid JSON, but not text; it cannot be encoded back
                    to UTF-8, so it would fail later in a tokenizer, a cache key or a database
    not_json        anything the parser itself refuses
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# Integers longer than this are refused before int() sees them (Python's own cap is 4300 digits).
MAX_INT_DIGITS = 100

# A JSON string (the parser's own grammar: a quote, then anything but quote or backslash, or an escape).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonRefused(ValueError):
    """The text is not JSON this service accepts. `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, without parsing: strings are cut out first (a bracket
    inside a string does not nest), then the opening and closing brackets are summed left to right.

        {"a": [1, {"b": "]]"}]}   ->  { [ { } ] }  ->  running depth 1 2 3 2 1 0  ->  3

    On malformed text it may misjudge, but only text the parser would refuse anyway."""
    structure = _BRACKETS.findall(_STRING.sub("", text))
    return max(accumulate(_STEP[b] for b in structure), default=0)


def _refuse_constant(name: str) -> Any:
    raise JsonRefused("not_finite", f"{name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("not_finite", f"{text[:40]} overflows a float")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused("big_int", f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _check_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonRefused("bad_unicode", f"lone surrogate at {exc.start}") from exc
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonRefused("duplicate_key", f"key {key[:40]!r} appears twice")
        out[_check_text(key)] = _check_text(value) if isinstance(value, str) else value
    return out


def _array_strings(value: Any) -> None:
    """Strings inside arrays are not seen by the object hook; walk them (depth is bounded already)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                _check_text(item)
            else:
                _array_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            _array_strings(item)


def loads_strict(text: str, *, max_depth: int) -> Any:
    """Parse `text` as JSON within the limits above; raises JsonRefused, never anything else."""
    # the depth is at most the number of opening brackets: a flat post needs no scan
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JsonRefused("too_deep", f"nesting depth exceeds {max_depth}")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_refuse_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except JsonRefused:
        raise
    except json.JSONDecodeError as exc:
        raise JsonRefused("not_json", str(exc)) from exc
    except RecursionError as exc:  # not the plan (the depth scan above is), a last line of defence
        raise JsonRefused("too_deep", "the parser ran out of stack") from exc
    except (ValueError, TypeError) as exc:
        raise JsonRefused("not_json", f"{type(exc).__name__}: {exc}"[:200]) from exc
    if isinstance(value, str):
        _check_text(value)
    _array_strings(value)
    return value
