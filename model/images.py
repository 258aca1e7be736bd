"""Image bytes -> a normalised (3, size, size) tensor, refusing anything dangerous or broken.

    >>> decode_image(png_bytes).shape
    torch.Size([3, 224, 224])
    >>> decode_image(b"<html>...")
    Traceback (most recent call last):
    ImageDecodeError: not_image: ...

Order of checks, cheapest first, so hostile input costs little:

1. byte length (`too_large`), empty input (`not_image`);
2. `Image.open` reads only the header, restricted to the formats a post can carry (never EPS/PDF
   and friends); unknown bytes are `not_image`;
3. width x height from the header against `max_pixels` (`bomb`), BEFORE any pixel is decoded;
   Pillow's own DecompressionBombWarning/Error also become `bomb`;
4. JPEG draft mode (the decoder downsamples by 1/2..1/8 while decoding, never below `size`);
5. the pixels that will be decoded against the bytes that carry them (`compression_ratio`): past
   a free `FREE_PIXELS`, each byte may pay for at most `max_pixels_per_byte` pixels. Decoding
   costs CPU and memory per pixel: a 190 KB PNG of 7000 x 7000 transparent RGBA pixels took 1.0 s
   and grew the process by ~750 MB when decoded; refused here, it costs its header (< 1 ms);
6. the first frame only (animated GIF/WebP); a short file is `truncated`, anything else Pillow
   rejects `undecodable`;
7. EXIF orientation, any mode to RGB (alpha composited on white, 16-bit scaled down), center crop
   of the shorter side resized to `size`, ImageNet normalisation. RGBA/LA are resized first and
   composited after (same picture to rounding: at most 3 of 255 levels, measured), so the
   composite never runs over a full-size frame.

The limits, and why these figures. The model sees 224 x 224, so pixels beyond a few megapixels buy
nothing; the limits only have to keep what platforms actually send working:

- `DEFAULT_MAX_PIXELS` = 24 M (6000 x 4000, a 24 MP camera frame): platforms typically resize
  uploads to at most 4096 x 4096 (16.8 M) or far less (1080 wide); phones shoot 12 MP (4032 x 3024).
  Raw 48-50 MP phone originals are refused (`bomb`): scored text-only, dead-lettered without text.
- `FREE_PIXELS` = 4 M (2048 x 2048): below it the ratio is not checked; the worst such image (flat
  RGBA, 16 KB) took 83 ms and ~60 MB here, and small flat images (icons; a transparent 256 x 256
  PNG is 196 pixels per byte) compress far beyond any sensible ratio.
- `DEFAULT_MAX_PIXELS_PER_BYTE` = 100: photos compress to a few pixels per byte and screenshots to
  tens; the rule still passes a 4K screenshot of 43 KB and asks 200 KB of a 24 M pixel PNG. A JPEG
  counts the pixels draft mode leaves (1/64 of them for large ones), so even a flat-colour 24 MP
  JPEG (~64 pixels per byte at quality 90) passes.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 24_000_000  # 6000 x 4000; see the module docstring for why
DEFAULT_MAX_PIXELS_PER_BYTE = 100.0  # decoded pixels one input byte may pay for, past FREE_PIXELS
FREE_PIXELS = 4_000_000  # 2048 x 2048: never refused for their compression ratio
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN_255 = np.array(IMAGENET_MEAN, dtype=np.float32) * 255.0
_STD_255 = np.array(IMAGENET_STD, dtype=np.float32) * 255.0
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_SHRINK_FIRST = ("RGBA", "LA")  # alpha modes Pillow resizes premultiplied (never P: it resizes NEAREST)


class ImageDecodeError(Exception):
    """The one error for bytes that cannot become an image tensor; `reason` says which kind.

    reason: "too_large" | "bomb" | "compression_ratio" | "undecodable" | "truncated" | "not_image"
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_image(
    data: bytes,
    *,
    size: int = 224,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_pixels_per_byte: float = DEFAULT_MAX_PIXELS_PER_BYTE,
) -> torch.Tensor:
    """Decode, orient, convert, crop and normalise one image. Returns (3, size, size) float32."""
    img = open_checked(
        data, max_bytes=max_bytes, max_pixels=max_pixels, max_pixels_per_byte=max_pixels_per_byte, size=size
    )
    try:
        img.seek(0)  # first frame of an animation
        img.load()
        img = ImageOps.exif_transpose(img) or img
        if img.mode in _SHRINK_FIRST:
            # Pillow resizes these with premultiplied alpha, so shrinking before compositing on white
            # gives the same picture (to rounding) while the composite costs size x size, not the frame:
            # 24 M RGBA pixels took ~0.4 s and ~200 MB more the other way round.
            return to_tensor(to_rgb(crop_resize(img, size)))
        return to_tensor(crop_resize(to_rgb(img), size))
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError("bomb", str(exc)) from exc
    except (EOFError, OSError, ValueError, SyntaxError) as exc:
        if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
            raise ImageDecodeError("truncated", str(exc) or "unexpected end of data") from exc
        raise ImageDecodeError("undecodable", str(exc) or type(exc).__name__) from exc
    except Exception as exc:  # Pillow raises a zoo of types on corrupt input; all mean the same here
        raise ImageDecodeError("undecodable", f"{type(exc).__name__}: {exc}") from exc
    finally:
        img.close()


def open_checked(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    max_pixels_per_byte: float = DEFAULT_MAX_PIXELS_PER_BYTE,
    size: int = 224,
) -> Image.Image:
    """Open the header only and refuse by size and by compression ratio before anything is decoded.
    A JPEG comes back in draft mode for `size`: its `.size` is then what will be decoded."""
    if not data:
        raise ImageDecodeError("not_image", "empty input")
    if len(data) > max_bytes:
        raise ImageDecodeError("too_large", f"{len(data)} bytes > limit {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError("bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not_image", "not a supported image format") from exc
    except Exception as exc:  # a recognised format whose header is broken
        raise ImageDecodeError("undecodable", f"{type(exc).__name__}: {exc}") from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        img.close()
        raise ImageDecodeError("undecodable", f"empty image {width}x{height}")
    if width * height > max_pixels:
        img.close()
        raise ImageDecodeError("bomb", f"{width}x{height} pixels > limit {max_pixels}")
    try:
        if img.format == "JPEG":
            img.draft("RGB", (size, size))  # decode at 1/2..1/8 scale, never below `size`
        check_compression_ratio(img.size, len(data), max_pixels_per_byte=max_pixels_per_byte)
    except ImageDecodeError:
        img.close()
        raise
    except Exception as exc:  # draft() on a broken header
        img.close()
        raise ImageDecodeError("undecodable", f"{type(exc).__name__}: {exc}") from exc
    return img


def check_compression_ratio(
    decoded: tuple[int, int], n_bytes: int, *, max_pixels_per_byte: float, free_pixels: int = FREE_PIXELS
) -> None:
    """Refuse (`compression_ratio`) when the pixels to decode exceed `free_pixels` plus
    `max_pixels_per_byte` for every input byte: decoding work the sender did not pay for in bytes."""
    width, height = decoded
    pixels = width * height
    allowed = free_pixels + max_pixels_per_byte * n_bytes
    if pixels > allowed:
        raise ImageDecodeError(
            "compression_ratio",
            f"{width}x{height} = {pixels / 1e6:.1f} M pixels from {n_bytes} bytes "
            f"({pixels / max(n_bytes, 1):.0f} per byte); allowed {allowed / 1e6:.1f} M "
            f"({free_pixels / 1e6:.0f} M + {max_pixels_per_byte:g} per byte)",
        )


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB. Transparency is composited on white, as a viewer shows it."""
    if img.mode in _SIXTEEN_BIT or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float32)
        if img.mode in _SIXTEEN_BIT or (img.mode == "I" and values.size and values.max() > 255):
            values = values / 257.0  # 0..65535 -> 0..255
        img = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), mode="L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def crop_resize(img: Image.Image, size: int) -> Image.Image:
    """Center square of the shorter side, resized to size x size (= resize shorter side + center crop)."""
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    return img.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB image -> (3, H, W) float32, ImageNet-normalised (in numpy: small images do not pay for
    torch's thread pool, and decoding runs on worker threads)."""
    array = np.asarray(img, dtype=np.float32)  # (H, W, 3), 0..255
    array = (array - _MEAN_255) / _STD_255
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))  # (3, H, W)
