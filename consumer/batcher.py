"""The micro-batcher: groups prepared posts into model batches. Plain logic with an injected clock.

A batch closes when the first of these happens:

    size    it holds `max_size` posts
    wait    `max_wait_s` passed since its first post arrived            (checked by `due()`)
    tokens  the next post would push the padded token count over `max_tokens`
            (padded tokens = longest text in the batch x posts, since the model pads to the longest)
    images  the next post would push the number of images over `max_images`

A post too big for any batch on its own still gets a batch of one: nothing is ever refused here.

    >>> now = 0.0
    >>> b = MicroBatcher(BatchLimits(max_size=2, max_wait_s=0.02, max_tokens=100, max_images=8),
    ...                  clock=lambda: now)
    >>> b.add("a", tokens=10, images=0)
    []
    >>> b.add("b", tokens=10, images=1)
    [['a', 'b']]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from events.settings import BatchSettings

T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    max_size: int
    max_wait_s: float
    max_tokens: int
    max_images: int

    @classmethod
    def from_settings(cls, batch: BatchSettings) -> BatchLimits:
        return cls(batch.max_size, batch.max_wait_ms / 1000.0, batch.max_tokens, batch.max_images)


class MicroBatcher(Generic[T]):
    """Collects items into batches; `add` and `due` return the batches they closed, oldest first."""

    def __init__(self, limits: BatchLimits, *, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._items: list[T] = []
        self._longest = 0  # longest text (tokens) in the open batch
        self._images = 0
        self._opened_at = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T, *, tokens: int, images: int) -> list[list[T]]:
        closed: list[list[T]] = []
        if self._items and not self._fits(tokens, images):
            closed.append(self._close())
        if not self._items:
            self._opened_at = self._clock()
        self._items.append(item)
        self._longest = max(self._longest, tokens)
        self._images += images
        if len(self._items) >= self.limits.max_size:
            closed.append(self._close())
        return closed

    def due(self) -> list[T] | None:
        """The open batch, closed, when its wait is over; otherwise None."""
        deadline = self.deadline()
        if deadline is not None and self._clock() >= deadline:
            return self._close()
        return None

    def flush(self) -> list[T] | None:
        """Close the open batch now (drain, model swap); None when empty."""
        return self._close() if self._items else None

    def deadline(self) -> float | None:
        """When the open batch must close by waiting, in the clock's time; None when empty."""
        return self._opened_at + self.limits.max_wait_s if self._items else None

    def _fits(self, tokens: int, images: int) -> bool:
        padded = max(self._longest, tokens) * (len(self._items) + 1)
        return padded <= self.limits.max_tokens and self._images + images <= self.limits.max_images

    def _close(self) -> list[T]:
        batch, self._items = self._items, []
        self._longest = 0
        self._images = 0
        return batch
