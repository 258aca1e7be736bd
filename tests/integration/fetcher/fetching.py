"""Run fetches on a fresh event loop with a fresh fetcher, from synchronous tests."""

from __future__ import annotations

import asyncio
from typing import Any

from events.settings import FetchSettings
from fetcher import FetchResult, ImageFetcher


def fetch_all(settings: FetchSettings, urls: list[str], **kwargs: Any) -> list[FetchResult]:
    """Fetch every URL at once on a fresh event loop with a fresh fetcher."""

    async def run() -> list[FetchResult]:
        fetcher = ImageFetcher(settings, **kwargs)
        try:
            return list(await asyncio.gather(*(fetcher.fetch(u) for u in urls)))
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def fetch_one(settings: FetchSettings, url: str, **kwargs: Any) -> FetchResult:
    return fetch_all(settings, [url], **kwargs)[0]
