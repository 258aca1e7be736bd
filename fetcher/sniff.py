"""What kind of image a body is, judged from its first bytes (never from a Content-Type header).

>>> sniff_image_type(b"\\x89PNG\\r\\n\\x1a\\n" + b"...")
'png'
>>> sniff_image_type(b"<!doctype html>") is None
True
"""

from __future__ import annotations

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")
_TIFFS = (b"II*\x00", b"MM\x00*")
# BMP has only a 2-byte magic ("BM"); also require a known DIB header size at offset 14.
_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_image_type(data: bytes) -> str | None:
    """ "jpeg", "png", "gif", "webp", "bmp" or "tiff" from the magic bytes, else None."""
    if data.startswith(_JPEG):
        return "jpeg"
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_GIFS):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(_TIFFS):
        return "tiff"
    if len(data) >= 18 and data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_DIB_SIZES:
        return "bmp"
    return None
