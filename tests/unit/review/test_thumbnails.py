"""Re-encoding: any image becomes a small fresh JPEG; anything else, or too large, becomes a reason."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from events.settings import FetchSettings, ReviewSettings
from fetcher import FetchResult
from review.thumbnails import Thumbnails, reencode


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


class FakeFetcher:
    """Stands in for ImageFetcher: answers from a table, counts calls, can be held until released."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def fetch(self, url: str) -> FetchResult:
        self.calls.append(url)
        await self.release.wait()
        body = self.bodies.get(url)
        if body is None:
            return FetchResult("failed", None, "http_404", 0.0)
        return FetchResult("ok", body, None, 0.0)

    async def aclose(self) -> None:
        pass


def thumbs(fake: FakeFetcher, cache_bytes: int = 1_000_000) -> Thumbnails:
    review = ReviewSettings(thumb_cache_bytes=cache_bytes)
    return Thumbnails(FetchSettings(), review, fetcher=fake)  # type: ignore[arg-type]


def test_concurrent_asks_share_one_fetch_and_the_answer_is_cached() -> None:
    async def scenario() -> None:
        fake = FakeFetcher({"u": image_bytes((100, 100), "PNG")})
        fake.release.clear()
        service = thumbs(fake)
        waiting = [asyncio.create_task(service.get("u")) for _ in range(5)]
        await asyncio.sleep(0)
        fake.release.set()
        answers = await asyncio.gather(*waiting)
        assert all(a.data is not None and a.data == answers[0].data for a in answers)
        assert (await service.get("u")).data == answers[0].data
        assert fake.calls == ["u"]
        missing = await service.get("gone")
        assert (missing.data, missing.reason) == (None, "failed:http_404")
        await service.get("gone")
        assert fake.calls == ["u", "gone"]  # failures are cached too

    asyncio.run(scenario())


def test_the_cache_keeps_within_its_byte_budget() -> None:
    async def scenario() -> None:
        fake = FakeFetcher({f"u{i}": image_bytes((300, 300), "PNG") for i in range(20)})
        service = thumbs(fake, cache_bytes=4_000)
        for i in range(20):
            assert (await service.get(f"u{i}")).data is not None
            assert service.cached_bytes <= 4_000
        await service.get("u0")  # pushed out long ago: fetched again
        assert fake.calls.count("u0") == 2

    asyncio.run(scenario())
