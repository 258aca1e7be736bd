"""Builders for every image kind the decoder must handle, and hostile inputs it must refuse."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def jpeg_rgb() -> bytes:
    return encode(Image.new("RGB", (640, 480), RED), "JPEG", quality=90)


def jpeg_exif_rotated() -> bytes:
    """Stored 300x200, left half red, right half blue, EXIF orientation 6 (display rotated 90° CW):
    shown upright it is 200x300 with red on TOP and blue at the BOTTOM."""
    img = Image.new("RGB", (300, 200), BLUE)
    img.paste(Image.new("RGB", (150, 200), RED), (0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def jpeg_cmyk() -> bytes:
    return encode(Image.new("CMYK", (320, 240), (0, 230, 230, 20)), "JPEG", quality=90)


def jpeg_grayscale() -> bytes:
    return encode(Image.new("L", (300, 300), 128), "JPEG")


def png_rgba_transparent() -> bytes:
    """Black pixels that are fully transparent: composited on white they must come out white."""
    return encode(Image.new("RGBA", (256, 256), (0, 0, 0, 0)), "PNG")


def png_palette() -> bytes:
    return encode(Image.new("RGB", (256, 256), BLUE).convert("P", palette=Image.Palette.ADAPTIVE), "PNG")


def png_palette_transparent() -> bytes:
    img = Image.new("P", (200, 200), 0)
    img.putpalette([0, 0, 0] * 256)
    return encode(img, "PNG", transparency=0)


def png_16bit_gray() -> bytes:
    return encode(Image.fromarray(np.full((240, 320), 128 * 257, dtype=np.uint16)), "PNG")


def png_grayscale() -> bytes:
    return encode(Image.new("L", (400, 300), 30), "PNG")


def png_la() -> bytes:
    return encode(Image.new("LA", (128, 128), (0, 0)), "PNG")


def _two_frames() -> list[Image.Image]:
    return [Image.new("RGB", (240, 240), RED), Image.new("RGB", (240, 240), BLUE)]


def gif_animated() -> bytes:
    first, second = _two_frames()
    return encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


def webp_animated() -> bytes:
    first, second = _two_frames()
    return encode(first, "WEBP", save_all=True, append_images=[second], duration=100, lossless=True)


def bmp() -> bytes:
    return encode(Image.new("RGB", (300, 250), RED), "BMP")


def tiff() -> bytes:
    return encode(Image.new("RGB", (300, 250), RED), "TIFF", compression="tiff_lzw")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose IHDR claims width x height 8-bit RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_corrupt_data() -> bytes:
    """A valid PNG header whose compressed pixel stream is garbage (CRC fixed up, so only zlib fails)."""
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    garbage = bytes(range(256)) * 4
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", garbage) + _chunk(b"IEND", b"")


def noisy_jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    """Random pixels, so the compressed stream is long and a cut lands in the middle of the data."""
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)), "JPEG")


def noisy_png(size: tuple[int, int] = (320, 240)) -> bytes:
    rng = np.random.default_rng(1)
    return encode(Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)), "PNG")


def tiff_16bit() -> bytes:
    return encode(Image.fromarray(np.full((200, 300), 128 * 257, dtype=np.uint16)), "TIFF")


def tiff_cmyk() -> bytes:
    return encode(Image.new("CMYK", (300, 200), (0, 230, 230, 20)), "TIFF")


def png_flat(width: int, height: int, *, rgba: bool = True, level: int = 9) -> bytes:
    """A real, decodable PNG of one flat colour (fully transparent black when RGBA), compressed row
    block by row block so building a 7000 x 7000 one never holds its 196 MB of pixels."""
    channels, colour_type = (4, 6) if rgba else (3, 2)
    row = b"\x00" + b"\x00" * (width * channels)  # filter type 0, then the pixels
    squeeze = zlib.compressobj(level)
    block = 64
    parts = [squeeze.compress(row * min(block, height - top)) for top in range(0, height, block)]
    idat = b"".join(parts) + squeeze.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
