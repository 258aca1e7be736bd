"""The in-flight budget of posts waiting for their image, counted apart from `consumer.max_in_flight`.

    >>> images = ImageBudget(limit=512)
    >>> images.started()                 # poll thread, when the fetch is submitted
    >>> images.finished()                # fetcher thread, when the fetch is done (any outcome)
    >>> images.text_in_flight(ledger.in_flight())   # what max_in_flight is compared with

A post waiting for a slow image host must not hold back text-only posts: while it waits it counts
here, not against `max_in_flight`; once its fetch is done it joins the rest of the pipeline and counts
there again. The fetcher already keeps one host from queueing more than its slots and waiters, so
this budget fills up only when the whole fetch stage is saturated across many hosts. Intake then takes
at most the free slots (`room`: any post taken may carry an image), so when it is full nothing more is
taken; held full for `consumer.pause_after_s`, the partitions pause (`over`) as they do for
`max_in_flight`, and resume when the count falls below `resume_below` x the limit (`under`): taking more
posts would only queue more fetches.

`started` runs on the poll thread and `finished` on the fetcher's thread, hence the lock.
"""

from __future__ import annotations

import threading


class ImageBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._waiting = 0
        self.peak = 0  # the most posts ever waiting at once (tests check the bound)
        self._lock = threading.Lock()

    def started(self) -> None:
        with self._lock:
            self._waiting += 1
            self.peak = max(self.peak, self._waiting)

    def finished(self) -> None:
        with self._lock:
            self._waiting = max(0, self._waiting - 1)

    @property
    def waiting(self) -> int:
        return self._waiting

    def text_in_flight(self, in_flight: int) -> int:
        """Posts in flight that count against max_in_flight: all of them but those waiting here."""
        return max(0, in_flight - self._waiting)

    def room(self) -> int:
        """Posts intake may take now: each of them might wait here."""
        return max(0, self.limit - self._waiting)

    def over(self) -> bool:
        """Full: intake holds (`room` is 0), and held `consumer.pause_after_s` the partitions pause."""
        return self._waiting >= self.limit

    def under(self, resume_below: float) -> bool:
        """Low enough again to resume (the same hysteresis as max_in_flight)."""
        return self._waiting < resume_below * self.limit
