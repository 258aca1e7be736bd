"""Cache keys: stable, content-sensitive (text and image BYTES' digest), model-version-sensitive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.cache_keys import cache_key, url_key, url_keyed
from events.content import image_digest

IMG_A = image_digest(b"picture a")
IMG_B = image_digest(b"picture b")
BASE = ("p:", "v1", "hello world", IMG_A)


def test_shape() -> None:
    key = cache_key(*BASE)
    assert re.fullmatch(r"p:[0-9a-f]{64}", key)


def test_stable_within_a_process() -> None:
    assert cache_key(*BASE) == cache_key(*BASE)


def test_stable_across_processes() -> None:
    """No dependence on hash randomisation or dict order: another interpreter agrees."""
    call = f"cache_key('p:', 'v1', 'hello world', '{IMG_A}')"
    code = f"from consumer.cache_keys import cache_key; print({call})"
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
        ("p:", "v2", "hello world", IMG_A),  # new model: never an old result
        ("p:", "v1", "hello world!", IMG_A),
        ("p:", "v1", "Hello world", IMG_A),
        ("p:", "v1", "hello world", IMG_B),
        ("p:", "v1", "hello world", None),
        ("p:", "v1", None, IMG_A),
        ("p:", "v1", "", IMG_A),  # "" is not None
        ("q:", "v1", "hello world", IMG_A),
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


def test_the_key_is_the_content_not_the_url() -> None:
    """Two URLs serving the same bytes share a key; the same URL serving new bytes does not."""
    assert cache_key("p:", "v1", "t", image_digest(b"same")) == cache_key(
        "p:", "v1", "t", image_digest(b"same")
    )
    assert cache_key("p:", "v1", "t", image_digest(b"harmless")) != cache_key(
        "p:", "v1", "t", image_digest(b"swap")
    )
    assert cache_key("p:", "v1", "t", None) != cache_key("p:", "v1", "t", image_digest(b""))


def test_url_keys_live_apart_from_content_keys() -> None:
    assert url_key("p:", "v1", "t", "https://cdn.example/a.png").startswith("p:url:")
    assert url_key("p:", "v1", "t", "https://cdn.example/a.png") != url_key(
        "p:", "v2", "t", "https://cdn.example/a.png"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example/ab12.png", True),
        ("https://CDN.example/ab12.png", True),
        ("http://cdn.example:8080/x.png", True),  # listed as host:port too
        ("https://cdn.example.evil/x.png", False),
        ("https://evil.example/cdn.example/x.png", False),
        ("https://user@evil.example/x.png", False),
        ("ftp://cdn.example/x.png", False),
        ("https://[::1/x.png", False),  # does not parse
        (None, False),
    ],
)
def test_url_keyed_hosts_are_exact(url: str | None, expected: bool) -> None:
    assert url_keyed(url, frozenset({"cdn.example", "cdn.example:8080"})) is expected
