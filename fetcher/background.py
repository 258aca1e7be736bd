"""An ImageFetcher on its own thread and event loop, for synchronous callers (the poll loop, the trainer).

    >>> fetcher = BackgroundFetcher(settings.fetch)
    >>> future = fetcher.submit("https://images.example.com/cat.jpg")   # returns at once
    >>> future.result().status                                          # blocks this caller only
    'ok'
    >>> fetcher.close()

`observe` is called on the fetcher's thread. Futures still pending at `close()` are cancelled. Settings
the fetcher refuses (a malformed allow-list or trusted-hosts entry) raise here, in the caller's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable

from events.settings import FetchSettings
from fetcher.client import FetchResult, ImageFetcher
from fetcher.network import Resolver


class BackgroundFetcher:
    def __init__(
        self,
        settings: FetchSettings,
        *,
        observe: Callable[[str, float], None] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._closed = False
        self._fetcher: ImageFetcher | None = None
        self._failed: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(settings, observe, resolver), name="image-fetcher", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            self._thread.join(timeout=30)
            self._loop.close()
            self._closed = True
            raise self._failed

    def _run(
        self, settings: FetchSettings, observe: Callable[[str, float], None] | None, resolver: Resolver | None
    ) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._fetcher = ImageFetcher(settings, observe=observe, resolver=resolver)  # inside its loop
        except BaseException as exc:  # bad settings: the constructor's caller must see it, not hang
            self._failed = exc
            self._ready.set()
            return
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    def submit(self, url: str) -> concurrent.futures.Future[FetchResult]:
        if self._closed or self._fetcher is None:
            raise RuntimeError("BackgroundFetcher is closed")
        return asyncio.run_coroutine_threadsafe(self._fetcher.fetch(url), self._loop)

    def alive(self) -> bool:
        """Whether the fetch loop's thread still runs (the consumer's supervisor watches it)."""
        return self._thread.is_alive()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._fetcher is not None:
            await self._fetcher.aclose()

    def __enter__(self) -> BackgroundFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
