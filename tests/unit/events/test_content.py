"""content_id: one id per scored content, stable across processes, blind to everything else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from events.content import content_id, image_digest

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("hi", None), ("hi", image_digest(b""))),  # no image != an empty image
        ((None, None), ("", None)),  # no text != empty text
        (("hi", image_digest(PNG)), ("hi", image_digest(PNG + b"\x00"))),  # one byte of image
        (("hi", None), ("hi ", None)),  # one character of text
        (("a", None), (None, image_digest(b"a"))),  # text and image never collide by position
    ],
)
def test_different_content_different_id(
    a: tuple[str | None, str | None], b: tuple[str | None, str | None]
) -> None:
    assert content_id(*a) != content_id(*b)


def test_same_content_same_id_in_another_process() -> None:
    here = content_id("caf\u00e9 \ud83d", image_digest(PNG))  # a lone surrogate must hash, not raise
    code = (
        "from events.content import content_id, image_digest;"
        f"print(content_id('caf\\u00e9 \\ud83d', image_digest({PNG!r})))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here
    assert len(here) == 64 and int(here, 16) >= 0
