"""Image bytes -> a (3, size, size) image, refusing anything dangerous or broken.

    >>> decode_image_uint8(png_bytes).shape, decode_image_uint8(png_bytes).dtype   # what travels
    ((3, 224, 224), dtype('uint8'))
    >>> decode_image(png_bytes).shape           # = normalize_images(the uint8 image), for the trainer
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
   of the shorter side resized to `size`. `decode_image_uint8` stops here (numpy only, no torch: it
   runs in the consumer's prep worker processes); ImageNet normalisation is `normalize_images`,
   applied on the model's device after the uint8 transfer (a quarter of float32's bytes). RGBA/LA
   are resized first and composited after (same picture to rounding: at most 3 of 255 levels,
   measured), so the composite never runs over a full-size frame.

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

import functools
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:  # torch is imported where it is used: the prep worker processes never load it
    import torch

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


@dataclass(frozen=True)
class DecodeLimits:
    """The arguments of `decode_image_uint8` besides the bytes, as one value a prep worker is sent."""

    size: int = 224
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_pixels_per_byte: float = DEFAULT_MAX_PIXELS_PER_BYTE


def decode_image(
    data: bytes,
    *,
    size: int = 224,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_pixels_per_byte: float = DEFAULT_MAX_PIXELS_PER_BYTE,
) -> torch.Tensor:
    """Decode, orient, convert, crop and normalise one image. Returns (3, size, size) float32."""
    import torch

    image = decode_image_uint8(
        data, size=size, max_bytes=max_bytes, max_pixels=max_pixels, max_pixels_per_byte=max_pixels_per_byte
    )
    return normalize_images(torch.from_numpy(image))


def decode_image_uint8(
    data: bytes,
    *,
    size: int = 224,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_pixels_per_byte: float = DEFAULT_MAX_PIXELS_PER_BYTE,
) -> np.ndarray:
    """Decode, orient, convert and crop one image. Returns (3, size, size) uint8, C-contiguous."""
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
            return to_uint8(to_rgb(crop_resize(img, size)))
        return to_uint8(crop_resize(to_rgb(img), size))
    except ImageDecodeError:
        raise
    except MemoryError:  # a worker's memory limit (consumer.prep_pool): the caller decides what dies
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


def to_uint8(img: Image.Image) -> np.ndarray:
    """RGB image -> (3, H, W) uint8, C-contiguous (what the prep workers send back, 3 x H x W bytes)."""
    array = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    return np.ascontiguousarray(array.transpose(2, 0, 1))  # (3, H, W)


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) 0..255 -> float32 ImageNet-normalised, on the tensor's own device (after
    the transfer, so the copy is uint8). Bit-identical on CPU to what `decode_image` always returned:
    (x - mean*255) / (std*255), in float32."""
    import torch

    mean, std = _stats(images.device)
    return (images.to(torch.float32) - mean) / std


@functools.cache
def _stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """mean*255 and std*255 as (3, 1, 1) float32 on `device`, made once (no host-to-device copy per batch)."""
    import torch

    mean = torch.tensor(_MEAN_255, dtype=torch.float32, device=device).view(3, 1, 1)
    std = torch.tensor(_STD_255, dtype=torch.float32, device=device).view(3, 1, 1)
    return mean, std


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB image -> (3, H, W) float32, ImageNet-normalised."""
    import torch

    return normalize_images(torch.from_numpy(to_uint8(img)))
