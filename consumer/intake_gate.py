"""How much the poll loop may take, and when its partitions pause: the adaptive in-flight bound, the image
budget and the hold-then-pause rule, together with their metrics.

    >>> gate = IntakeGate(settings, metrics, clock=time.monotonic)
    >>> records = source.consume(min(batch, gate.room(ledger.in_flight())), timeout_s)
    >>> gate.completed(n)                       # posts acknowledged since the last update
    >>> gate.update(source, in_flight=ledger.in_flight(), stopping=False, assignment_changed=False)

Three rules, each in its own module; this one only joins them on the poll loop's turn:

    consumer/inflight_bound.py   the bound follows measured posts/s x target_latency_s (Little's law),
                                 within min_in_flight..max_in_flight
    consumer/image_budget.py     posts waiting for their image count apart (fetch.max_in_flight), so a
                                 slow image host cannot hold back text-only posts
    consumer/flow.py             take only what fits (`room`); held at a bound for pause_after_s, pause
                                 every assigned partition (the loop keeps polling: heartbeats,
                                 rebalances, max.poll.interval.ms); below resume_below x that, resume

Not thread-safe except the image budget (its `finished` runs on the fetcher's thread): the poll loop
owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from consumer.flow import Backpressure, Move
from consumer.image_budget import ImageBudget
from consumer.inflight_bound import AdaptiveBound
from consumer.ledger import TopicPartition
from consumer.metrics import ConsumerMetrics
from events.settings import Settings


class Pausable(Protocol):
    def assignment(self) -> list[TopicPartition]: ...
    def pause(self, tps: list[TopicPartition]) -> Any: ...
    def resume(self, tps: list[TopicPartition]) -> Any: ...


class IntakeGate:
    def __init__(self, settings: Settings, metrics: ConsumerMetrics, *, clock: Callable[[], float]) -> None:
        c = settings.consumer
        self._metrics = metrics
        self._clock = clock
        self._resume_below = c.resume_below
        self.images = ImageBudget(settings.fetch.max_in_flight)  # posts waiting for their image
        self.bound = AdaptiveBound(
            target_latency_s=c.target_latency_s,
            low=min(c.min_in_flight, c.max_in_flight),
            high=c.max_in_flight,
            clock=clock,
        )
        self.flow = Backpressure(self.bound.limit(), c.resume_below, pause_after_s=c.pause_after_s)
        self.peak_in_flight = 0  # the most posts ever in flight at once (tests check the bounds)
        self._completed = 0  # posts acknowledged since the bound last looked

    def text_in_flight(self, in_flight: int) -> int:
        """In flight as max_in_flight counts it: all posts but those waiting for their image."""
        return self.images.text_in_flight(in_flight)

    def room(self, in_flight: int) -> int:
        """Posts the next consume() may take, `in_flight` being every post taken and not acknowledged."""
        return min(self.flow.room(self.text_in_flight(in_flight)), self.images.room())

    def completed(self, n: int = 1) -> None:
        self._completed += n

    def update(self, source: Pausable, *, in_flight: int, stopping: bool, assignment_changed: bool) -> None:
        """Once per turn of the poll loop: move the bound, then pause or resume every assigned partition
        as the rules decide."""
        metrics = self._metrics
        self.peak_in_flight = max(self.peak_in_flight, in_flight)
        metrics.awaiting_images.set(self.images.waiting)
        flow = self.flow
        was_paused, holds = flow.paused, flow.holds
        self.bound.observe(completed=self._completed, in_flight=in_flight)
        self._completed = 0
        flow.retarget(self.bound.limit())
        metrics.in_flight_limit.set(flow.limit)
        move = flow.decide(
            in_flight=self.text_in_flight(in_flight),
            stopping=stopping,
            assignment_changed=assignment_changed,
            images_over=self.images.over(),
            images_under=self.images.under(self._resume_below),
            now=self._clock(),
        )
        metrics.holds.inc(flow.holds - holds)
        if move is Move.PAUSE:
            source.pause(source.assignment())
            if not was_paused and not stopping:
                metrics.pauses.inc()
        elif move is Move.RESUME:
            source.resume(source.assignment())
        metrics.paused_partitions.set(len(source.assignment()) if flow.paused else 0)
