"""Cache keys: stable, content-sensitive, model-version-sensitive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.cache_keys import cache_key

BASE = ("p:", "v1", "hello world", "https://img.example/a.jpg")


def test_shape() -> None:
    key = cache_key(*BASE)
    assert re.fullmatch(r"p:[0-9a-f]{64}", key)


def test_stable_within_a_process() -> None:
    assert cache_key(*BASE) == cache_key(*BASE)


def test_stable_across_processes() -> None:
    """No dependence on hash randomisation or dict order: another interpreter agrees."""
    code = "from consumer.cache_keys import cache_key; print(cache_key('p:', 'v1', 'hello world', 'https://img.example/a.jpg'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
        cwd=Path(__file__).parents[3],
    )
    assert out.stdout.strip() == cache_key(*BASE)


@pytest.mark.parametrize(
    "changed",
    [
        ("p:", "v2", "hello world", "https://img.example/a.jpg"),  # new model: never an old result
        ("p:", "v1", "hello world!", "https://img.example/a.jpg"),
        ("p:", "v1", "Hello world", "https://img.example/a.jpg"),
        ("p:", "v1", "hello world", "https://img.example/b.jpg"),
        ("p:", "v1", "hello world", None),
        ("p:", "v1", None, "https://img.example/a.jpg"),
        ("p:", "v1", "", "https://img.example/a.jpg"),  # "" is not None
        ("q:", "v1", "hello world", "https://img.example/a.jpg"),
    ],
)
def test_every_input_changes_the_key(changed: tuple[str, str, str | None, str | None]) -> None:
    assert cache_key(*changed) != cache_key(*BASE)


def test_fields_cannot_bleed_into_each_other() -> None:
    """Moving characters between fields must not collide (no naive concatenation)."""
    assert cache_key("p:", "v1", "ab", "c") != cache_key("p:", "v1", "a", "bc")
    assert cache_key("p:", "v1a", "b", None) != cache_key("p:", "v1", "ab", None)


def test_unusual_text_is_keyed() -> None:
    lone_surrogate = "\ud800"  # can arrive through JSON escapes; must not crash the key
    assert cache_key("p:", "v1", lone_surrogate, None) != cache_key("p:", "v1", "\ufffd", None)
    assert cache_key("p:", "v1", "caf\u00e9", None) != cache_key("p:", "v1", "cafe\u0301", None)
