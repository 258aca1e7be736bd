"""Watches the consumer's pipeline: is every stage thread alive, and is any post stuck?

A stage that dies (a bug, a fault no handler caught) leaves its posts unfinished forever, and the poll
loop alone cannot see it. The poll loop asks `Supervisor.fault()` on every turn; a reason (not None)
makes the consumer unhealthy (`/healthz` 503), stop taking posts, commit only its contiguous watermark
(never past the stuck post) and exit non-zero, so the orchestrator restarts it and the restarted
consumer scores the unfinished posts again.

    >>> ages = InFlightAges()
    >>> ages.take(("posts", 0), 7, at=10.0)
    >>> supervisor = Supervisor({"prep": lambda: True}, max_age_s=300.0, clock=lambda: 400.0)
    >>> supervisor.fault(ages.oldest())
    'post posts[0]@7 in flight for 390s (bound 300s)'

Plain logic: stages are `name -> alive()` callables, time is an injected clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

from consumer.ledger import TopicPartition

Entry = tuple[TopicPartition, int]


class InFlightAges:
    """When each in-flight post was taken, oldest first. Not thread-safe: the poll loop owns it."""

    def __init__(self) -> None:
        self._taken: OrderedDict[Entry, float] = OrderedDict()  # insertion order = take order

    def take(self, tp: TopicPartition, offset: int, at: float) -> None:
        self._taken[(tp, offset)] = at

    def done(self, tp: TopicPartition, offset: int) -> None:
        self._taken.pop((tp, offset), None)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Revoked or lost partitions: their posts are no longer this consumer's."""
        gone = set(tps)
        for entry in [e for e in self._taken if e[0] in gone]:
            del self._taken[entry]

    def oldest(self) -> tuple[Entry, float] | None:
        for entry, at in self._taken.items():
            return entry, at
        return None

    def __len__(self) -> int:
        return len(self._taken)


class Supervisor:
    """Decides whether the pipeline is healthy; the first fault found is kept (a dead stage stays dead)."""

    def __init__(
        self, stages: Mapping[str, Callable[[], bool]], *, max_age_s: float, clock: Callable[[], float]
    ) -> None:
        self._stages = dict(stages)
        self._max_age_s = max_age_s
        self._clock = clock
        self.reason: str | None = None

    def fault(self, oldest: tuple[Entry, float] | None) -> str | None:
        """Why the pipeline is broken, or None. `oldest` is `InFlightAges.oldest()`."""
        if self.reason is None:
            self.reason = self._find(oldest)
        return self.reason

    def _find(self, oldest: tuple[Entry, float] | None) -> str | None:
        dead = [name for name, alive in self._stages.items() if not alive()]
        if dead:
            return f"stage thread died: {', '.join(dead)}"
        if oldest is not None:
            ((topic, partition), offset), taken_at = oldest
            age = self._clock() - taken_at
            if age > self._max_age_s:
                where = f"{topic}[{partition}]@{offset}"
                return f"post {where} in flight for {age:.0f}s (bound {self._max_age_s:.0f}s)"
        return None
