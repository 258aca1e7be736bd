"""Re-encoding: any image becomes a small fresh JPEG; anything else, or too large, becomes a reason."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from review.thumbnails import reencode


def image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode != "P" else 3).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "fmt", "mode"),
    [
        ((800, 400), "PNG", "RGB"),
        ((400, 800), "JPEG", "RGB"),
        ((64, 64), "GIF", "P"),
        ((50, 50), "PNG", "RGBA"),
    ],
)
def test_reencode_makes_a_bounded_jpeg(size: tuple[int, int], fmt: str, mode: str) -> None:
    thumb = reencode(image_bytes(size, fmt, mode), max_px=320, max_source_pixels=10_000_000)
    assert thumb.reason is None and thumb.data is not None
    with Image.open(io.BytesIO(thumb.data)) as out:
        assert out.format == "JPEG" and max(out.size) <= 320
        assert max(out.size) == min(320, max(size))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not_image"),
        (b"<html>hello</html>", "not_image"),
        (image_bytes((8, 8), "PNG")[:40], "not_image"),  # truncated
    ],
)
def test_reencode_refuses_what_is_not_an_image(data: bytes, reason: str) -> None:
    assert reencode(data, max_px=320, max_source_pixels=10_000_000).reason == reason


def test_reencode_refuses_too_many_pixels_before_decoding() -> None:
    data = image_bytes((2000, 2000), "PNG")
    thumb = reencode(data, max_px=320, max_source_pixels=1_000_000)
    assert (thumb.data, thumb.reason) == (None, "too_many_pixels")
