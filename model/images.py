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
4. JPEG draft mode (the decoder downsamples by 1/2..1/8 while decoding), then the first frame
   only (animated GIF/WebP); a short file is `truncated`, anything else Pillow rejects `undecodable`;
5. EXIF orientation, any mode to RGB (alpha composited on white, 16-bit scaled down), center crop
   of the shorter side resized to `size`, ImageNet normalisation.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000  # e.g. 8660 x 5773; below Pillow's own 89 M warning threshold
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN_255 = np.array(IMAGENET_MEAN, dtype=np.float32) * 255.0
_STD_255 = np.array(IMAGENET_STD, dtype=np.float32) * 255.0
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageDecodeError(Exception):
    """The one error for bytes that cannot become an image tensor; `reason` says which kind.

    reason: "too_large" | "bomb" | "undecodable" | "truncated" | "not_image"
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
) -> torch.Tensor:
    """Decode, orient, convert, crop and normalise one image. Returns (3, size, size) float32."""
    img = open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        if img.format == "JPEG":
            img.draft("RGB", (size, size))  # decode at 1/2..1/8 scale, never below `size`
        img.seek(0)  # first frame of an animation
        img.load()
        img = ImageOps.exif_transpose(img) or img
        rgb = to_rgb(img)
        return to_tensor(crop_resize(rgb, size))
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


def open_checked(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Open the header only and refuse by size before anything is decoded."""
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
    return img


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
