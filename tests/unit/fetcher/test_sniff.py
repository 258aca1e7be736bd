"""Image type from magic bytes: real encoded images, and bodies that only claim to be images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from fetcher.sniff import sniff_image_type
from tests.image_server import make_gif, make_html, make_jpeg, make_png, make_truncated_jpeg, make_webp


def _pil(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (make_jpeg(), "jpeg"),
        (make_png(), "png"),
        (make_gif(), "gif"),
        (make_webp(), "webp"),
        (_pil("BMP"), "bmp"),
        (_pil("TIFF"), "tiff"),
        (make_truncated_jpeg(), "jpeg"),  # magic is right; decoding is the model's problem
    ],
)
def test_real_images_are_recognised(data: bytes, expected: str) -> None:
    assert sniff_image_type(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        make_html(),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b'{"json": true}',
        b"BM" + b"\0" * 40,  # "BM" alone is not enough
        b"RIFF\0\0\0\0WAVEfmt ",  # RIFF but not WEBP
        b"\x89PNG",  # cut inside the magic
        b"\xff\xd8",
        b"GIF88a",
        b"\0" * 64,
    ],
)
def test_non_images_are_refused(data: bytes) -> None:
    assert sniff_image_type(data) is None
