"""Thumbnails: a post's image fetched by the hardened fetcher and re-encoded small, so that a
moderator's browser never contacts a post's image host and never decodes its bytes.

    >>> thumbs = Thumbnails(settings.fetch, settings.review)      # inside the server's event loop
    >>> thumb = await thumbs.get("https://images.example.com/cat.jpg")
    >>> thumb.data, thumb.reason        # (JPEG bytes, None) or (None, "http_404" / "not_image" / ...)
    >>> await thumbs.aclose()

The fetch goes through `fetcher.ImageFetcher` with the consumer's settings (SSRF policy, allow-list,
size and time limits). The bytes are decoded with Pillow in a worker thread, after the header says
the image is at most `max_source_pixels`, then scaled to `thumb_max_px` on the longest side and
written as a fresh JPEG (no metadata, no animation, nothing of the original file kept). Results,
failures included, are cached by URL within `thumb_cache_bytes`; concurrent requests for one URL
share one fetch.
"""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageOps

from events.settings import FetchSettings, ReviewSettings
from fetcher import ImageFetcher

log = logging.getLogger(__name__)

_FAILURE_COST = 256  # bytes a cached failure is counted as
_DECODERS = 2  # images decoded at once: the console must not take the machine's CPUs


@dataclass(frozen=True)
class Thumbnail:
    data: bytes | None  # JPEG, when the image could be had
    reason: str | None  # why not, otherwise


def reencode(data: bytes, *, max_px: int, max_source_pixels: int) -> Thumbnail:
    """A JPEG of at most `max_px` on its longest side, or why the bytes cannot be one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > max_source_pixels:
                    return Thumbnail(None, "too_many_pixels")
                image.draft("RGB", (max_px, max_px))  # JPEG: decode at a reduced scale
                frame = ImageOps.exif_transpose(image.convert("RGB"))
                frame.thumbnail((max_px, max_px))
                out = io.BytesIO()
                frame.save(out, format="JPEG", quality=80, optimize=True)
                return Thumbnail(out.getvalue(), None)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Thumbnail(None, "too_many_pixels")
    except Exception as exc:  # any malformed image is that image's problem, never the server's
        log.debug("thumbnail decode failed: %r", exc)
        return Thumbnail(None, "not_image")


class Thumbnails:
    def __init__(
        self, fetch: FetchSettings, review: ReviewSettings, *, fetcher: ImageFetcher | None = None
    ) -> None:
        self._fetcher = fetcher or ImageFetcher(fetch)
        self._max_px = review.thumb_max_px
        self._max_source_pixels = review.max_source_pixels
        self._budget = review.thumb_cache_bytes
        self._cache: OrderedDict[str, Thumbnail] = OrderedDict()
        self._cached_bytes = 0
        self._in_flight: dict[str, asyncio.Future[Thumbnail]] = {}
        self._decoders = asyncio.Semaphore(_DECODERS)

    async def get(self, url: str) -> Thumbnail:
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        shared = self._in_flight.get(url)
        if shared is not None:
            try:
                return await asyncio.shield(shared)
            except Exception:  # the first asker went away mid-fetch: this one gets a plain failure
                return Thumbnail(None, "interrupted")
        future: asyncio.Future[Thumbnail] = asyncio.get_running_loop().create_future()
        self._in_flight[url] = future
        try:
            thumb = await self._make(url)
            future.set_result(thumb)
            self._remember(url, thumb)
            return thumb
        except BaseException as exc:  # a cancelled first caller must not leave the others waiting
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            del self._in_flight[url]

    async def aclose(self) -> None:
        await self._fetcher.aclose()

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

    async def _make(self, url: str) -> Thumbnail:
        fetched = await self._fetcher.fetch(url)
        if fetched.status != "ok" or fetched.data is None:
            return Thumbnail(None, f"{fetched.status}:{fetched.reason}")
        async with self._decoders:
            return await asyncio.to_thread(
                reencode, fetched.data, max_px=self._max_px, max_source_pixels=self._max_source_pixels
            )

    def _remember(self, url: str, thumb: Thumbnail) -> None:
        cost = _cost(url, thumb)
        if cost > self._budget:
            return
        self._cache[url] = thumb
        self._cached_bytes += cost
        while self._cached_bytes > self._budget:
            old_url, old = self._cache.popitem(last=False)
            self._cached_bytes -= _cost(old_url, old)


def _cost(url: str, thumb: Thumbnail) -> int:
    return len(url) + (len(thumb.data) if thumb.data is not None else _FAILURE_COST)
