"""The adaptive in-flight bound: how many posts the consumer may hold before its partitions pause.

Little's law: posts in flight = throughput x time in flight. To keep a post's time inside the consumer
near `target_latency_s`, the bound follows the measured throughput times that target, clamped to
[`min_in_flight`, `max_in_flight`]. A burst then waits in Kafka (where it costs nothing and survives a
crash) rather than in memory, and a kill -9 re-scores at most about one target latency's worth of posts.

    >>> bound = AdaptiveBound(target_latency_s=1.0, low=64, high=1024, clock=lambda: 0.0)
    >>> bound.limit()   # nothing measured yet: the floor
    64

Throughput is measured over windows of `window_s`, and only while the pipeline is busy: a window in
which nothing was in flight says nothing about capacity, so it is skipped (an idle consumer keeps its
last estimate instead of decaying to the floor). Windows are smoothed (EWMA) so one slow batch does not
halve the bound. The floor must keep the model fed (a few batches) or the bound would throttle the very
throughput it measures; the ceiling is the memory a process may spend. Not thread-safe: the poll loop owns it.
"""

from __future__ import annotations

from collections.abc import Callable


class AdaptiveBound:
    """Pause threshold = clamp(smoothed posts/s x target latency, low, high)."""

    def __init__(
        self,
        *,
        target_latency_s: float,
        low: int,
        high: int,
        clock: Callable[[], float],
        window_s: float = 1.0,
        smoothing: float = 0.5,
    ) -> None:
        if target_latency_s <= 0 or not 0 < low <= high or window_s <= 0 or not 0 < smoothing <= 1:
            raise ValueError("need target_latency_s > 0, 0 < low <= high, window_s > 0, 0 < smoothing <= 1")
        self.target_latency_s = target_latency_s
        self.low, self.high = low, high
        self._clock = clock
        self._window_s = window_s
        self._smoothing = smoothing
        self._window_start = clock()
        self._done_in_window = 0
        self._busy_in_window = False
        self.rate: float | None = None  # smoothed posts/s over busy windows; None until one is measured

    def observe(self, *, completed: int, in_flight: int) -> None:
        """Called on every turn of the poll loop: `completed` posts finished since the last call, and
        `in_flight` are held now."""
        self._done_in_window += completed
        self._busy_in_window |= in_flight > 0 or completed > 0
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed < self._window_s:
            return
        if self._busy_in_window:
            sample = self._done_in_window / elapsed
            a = self._smoothing
            self.rate = sample if self.rate is None else a * sample + (1 - a) * self.rate
        self._window_start, self._done_in_window, self._busy_in_window = now, 0, False

    def limit(self) -> int:
        """The bound now: posts in flight above which intake pauses."""
        if self.rate is None:
            return self.low
        return max(self.low, min(self.high, round(self.rate * self.target_latency_s)))
