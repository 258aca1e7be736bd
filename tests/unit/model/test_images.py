"""Image decoding: every kind a post carries decodes to (3, 224, 224); hostile input is refused fast."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest
import torch
from PIL import Image, ImageFile, JpegImagePlugin

from model.images import (
    DEFAULT_MAX_PIXELS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDecodeError,
    check_compression_ratio,
    decode_image,
)
from tests.unit.model import imagekit as kit


def rgb_at(tensor: torch.Tensor, y: int, x: int) -> tuple[float, float, float]:
    """Un-normalised 0..255 colour of one pixel of a decoded tensor."""
    mean = torch.tensor(IMAGENET_MEAN)
    std = torch.tensor(IMAGENET_STD)
    pixel = tensor[:, y, x] * std + mean
    r, g, b = (pixel * 255).tolist()
    return r, g, b


KINDS: dict[str, Callable[[], bytes]] = {
    "jpeg": kit.jpeg_rgb,
    "jpeg_exif_rotated": kit.jpeg_exif_rotated,
    "jpeg_cmyk": kit.jpeg_cmyk,
    "jpeg_grayscale": kit.jpeg_grayscale,
    "png_rgba": kit.png_rgba_transparent,
    "png_palette": kit.png_palette,
    "png_palette_transparent": kit.png_palette_transparent,
    "png_16bit": kit.png_16bit_gray,
    "png_grayscale": kit.png_grayscale,
    "png_la": kit.png_la,
    "gif_animated": kit.gif_animated,
    "webp_animated": kit.webp_animated,
    "bmp": kit.bmp,
    "tiff": kit.tiff,
    "tiff_16bit": kit.tiff_16bit,
    "tiff_cmyk": kit.tiff_cmyk,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_decodes_to_a_normalised_224_square(kind: str) -> None:
    tensor = decode_image(KINDS[kind]())
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == torch.float32
    assert torch.isfinite(tensor).all()


def test_non_square_is_center_cropped_at_any_size() -> None:
    assert decode_image(kit.noisy_jpeg((1000, 300)), size=96).shape == (3, 96, 96)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("jpeg_cmyk", (235, 25, 25)),  # CMYK (0, 230, 230, 20) is red; a raw channel copy is not
        ("png_rgba", (255, 255, 255)),  # transparent black composited on white
        ("png_la", (255, 255, 255)),
        ("png_palette_transparent", (255, 255, 255)),
        ("png_palette", kit.BLUE),
        ("png_16bit", (128, 128, 128)),  # 128 * 257 scaled to 128, not clipped to 255
        ("png_grayscale", (30, 30, 30)),
        ("gif_animated", kit.RED),  # the first frame, not the last
        ("webp_animated", kit.RED),
        ("tiff", kit.RED),
        ("tiff_16bit", (128, 128, 128)),
        ("tiff_cmyk", (235, 25, 25)),
    ],
)
def test_colours_survive_mode_conversion(kind: str, expected: tuple[int, int, int]) -> None:
    got = rgb_at(decode_image(KINDS[kind]()), 112, 112)
    assert all(abs(g - e) <= 12 for g, e in zip(got, expected, strict=True)), (got, expected)


def test_exif_orientation_is_applied() -> None:
    tensor = decode_image(kit.jpeg_exif_rotated())
    top, bottom = rgb_at(tensor, 20, 112), rgb_at(tensor, 203, 112)
    assert top[0] > 150 and top[2] < 80, top  # red on top once rotated upright
    assert bottom[2] > 150 and bottom[0] < 80, bottom


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"", "not_image"),
        (lambda: b"<!doctype html><html><body>Not Found</body></html>", "not_image"),
        (lambda: b"just some text, definitely not pixels\n" * 20, "not_image"),
        (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not_image"),  # EPS never opened
        (kit.png_corrupt_data, "undecodable"),
        (lambda: kit.noisy_jpeg()[: len(kit.noisy_jpeg()) // 2], "truncated"),
        (lambda: kit.noisy_png()[: len(kit.noisy_png()) // 2], "truncated"),
        (lambda: kit.png_claiming(50_000, 50_000), "bomb"),  # Pillow's own limit, made typed
        (lambda: kit.png_claiming(9_000, 9_000), "bomb"),  # 81 M pixels: our limit, below Pillow's
        (lambda: kit.png_claiming(6_001, 4_000), "bomb"),  # just over the 24 M default
        (lambda: kit.png_claiming(6_000, 4_000), "compression_ratio"),  # within it, but from ~100 bytes
    ],
    ids=[
        "empty",
        "html",
        "text",
        "eps",
        "corrupt_png",
        "truncated_jpeg",
        "truncated_png",
        "bomb",
        "bomb81m",
        "bomb24m",
        "ratio24m",
    ],
)
def test_bad_input_raises_the_typed_error_quickly(make: Callable[[], bytes], reason: str) -> None:
    data = make()
    started = time.perf_counter()
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data)
    assert caught.value.reason == reason, caught.value
    assert time.perf_counter() - started < 1.0


def test_oversized_bytes_are_refused_before_opening() -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(kit.jpeg_rgb(), max_bytes=1000)
    assert caught.value.reason == "too_large"


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(kit.jpeg_rgb(), max_pixels=640 * 480 - 1)
    assert caught.value.reason == "bomb"
    assert decode_image(kit.jpeg_rgb(), max_pixels=640 * 480).shape == (3, 224, 224)


def test_50k_by_50k_png_header_is_refused_without_allocating_it() -> None:
    data = kit.png_claiming(50_000, 50_000)
    assert len(data) < 400
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageDecodeError) as caught:
            decode_image(data, max_pixels=10**12)  # even with our own limit lifted, Pillow's stays typed
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == "bomb"
    assert elapsed < 1.0
    assert peak < 5 * 1024 * 1024  # 7.5 GB of pixels were never asked for


def test_large_jpegs_are_decoded_in_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The JPEG decoder downsamples while decoding (1/2..1/8), never below the target size."""
    requested: list[tuple[int, int]] = []
    sizes: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None):  # type: ignore[no-untyped-def]
        result = original(self, mode, size)
        requested.append(size or (0, 0))
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    assert decode_image(kit.noisy_jpeg((2000, 1500))).shape == (3, 224, 224)
    assert requested == [(224, 224)]
    assert sizes == [(500, 375)]  # 1/4 scale, 16x fewer pixels; 1/8 would leave the short side < 224


@pytest.fixture(scope="module")
def png_7000_rgba() -> bytes:
    """The attack: 7000 x 7000 transparent RGBA (196 MB of pixels) in ~190 KB."""
    return kit.png_flat(7000, 7000)


@pytest.mark.parametrize(
    ("limits", "reason"),
    [({}, "bomb"), ({"max_pixels": 50_000_000}, "compression_ratio")],
    ids=["default-limits", "old-50M-limit"],
)
def test_a_7000x7000_png_of_190kb_is_refused_from_its_header(
    png_7000_rgba: bytes,
    limits: dict[str, int],
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Decoding it costs ~1 s of CPU and ~750 MB; refused, it costs the header. With the old 50 M pixel
    limit it passes the pixel count, and the compression ratio alone refuses it."""
    assert 150_000 < len(png_7000_rgba) < 220_000
    decode_image(kit.png_grayscale())  # warm: Pillow imports its plugins on first use

    def no_pixels(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_pixels)
    monkeypatch.setattr(Image.Image, "load", no_pixels)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageDecodeError) as caught:
            decode_image(png_7000_rgba, **limits)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with capsys.disabled():
        print(
            f"\n7000x7000 RGBA PNG, {len(png_7000_rgba)} bytes, limits {limits or 'default'}: "
            f"refused ({caught.value.reason}) in {elapsed * 1000:.2f} ms, "
            f"tracemalloc peak {peak / 1024:.1f} KiB"
        )
    assert caught.value.reason == reason, caught.value
    assert elapsed < 1.0
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("size", "n_bytes", "refused"),
    [
        ((2048, 1953), 1, False),  # 4.0 M: free, whatever it weighs
        ((2048, 1954), 1, True),
        ((4000, 3000), 80_000, False),  # 12 M <= 4 M + 100 x 80 KB
        ((4000, 3000), 79_999, True),
        ((3840, 2160), 100_000, False),  # a flat 4K screenshot
        ((6000, 4000), 200_000, False),  # 24 M needs 200 KB
        ((6000, 4000), 199_999, True),
        ((7000, 7000), 190_584, True),  # the attack: 257 pixels per byte
        ((1, 1), 0, False),
    ],
)
def test_compression_ratio_rule(size: tuple[int, int], n_bytes: int, refused: bool) -> None:
    if refused:
        with pytest.raises(ImageDecodeError) as caught:
            check_compression_ratio(size, n_bytes, max_pixels_per_byte=100)
        assert caught.value.reason == "compression_ratio"
        assert (
            f"{size[0]}x{size[1]}" in caught.value.detail and f"from {n_bytes} bytes" in caught.value.detail
        )
    else:
        check_compression_ratio(size, n_bytes, max_pixels_per_byte=100)


def test_a_dense_png_under_the_pixel_limit_is_refused_for_its_ratio() -> None:
    data = kit.png_flat(4800, 4800)  # 23 M pixels, under 24 M, in ~90 KB
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data)
    assert caught.value.reason == "compression_ratio", caught.value
    assert DEFAULT_MAX_PIXELS >= 4800 * 4800  # the pixel count alone would let it through


def test_ordinary_large_images_still_decode() -> None:
    # flat colour, so as compressible as real images get; a JPEG counts the pixels draft mode leaves
    flat_jpeg_24mp = kit.encode(Image.new("RGB", (6000, 4000), kit.RED), "JPEG", quality=90)
    assert 6000 * 4000 / len(flat_jpeg_24mp) > 50  # dense for its size: passes only by draft mode
    assert decode_image(flat_jpeg_24mp).shape == (3, 224, 224)
    flat_png_4mp = kit.png_flat(2048, 1953)  # the free budget: any ratio
    assert decode_image(flat_png_4mp).shape == (3, 224, 224)
    noisy_png_6mp = kit.noisy_png((3000, 2000))  # ~1 byte per pixel, as photos stored as PNG are
    assert decode_image(noisy_png_6mp).shape == (3, 224, 224)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_images_shrunk_before_compositing_match_compositing_first(mode: str) -> None:
    """decode_image resizes RGBA/LA before compositing on white (cheaper); the picture is the same."""
    import io

    import numpy as np

    from model.images import crop_resize, to_rgb, to_tensor

    rng = np.random.default_rng(3)
    height, width = 480, 640
    y, x = np.mgrid[0:height, 0:width]
    colour = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1)
    alpha = ((x // 40 + y // 40) % 2 * 200 + rng.integers(0, 55, (height, width)))[..., None]
    rgba = Image.fromarray(np.concatenate([colour, alpha], -1).astype(np.uint8), mode="RGBA")
    data = kit.encode(rgba.convert(mode), "PNG")
    got = decode_image(data)
    composited_first = to_tensor(crop_resize(to_rgb(Image.open(io.BytesIO(data))), 224))
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    diff = ((got - composited_first) * std * 255).abs()  # in 0..255 units
    print(f"\n{mode}: max |diff| {diff.max():.2f}, mean {diff.mean():.3f} (0..255 units)")
    assert diff.max() < 3.5 and diff.mean() < 0.6  # measured: max 3, mean 0.47 (premultiply rounding)
