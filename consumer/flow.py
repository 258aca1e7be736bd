"""The poll loop's two small rules, as plain logic: when to pause and resume intake (backpressure), and
whether a refused output is published again or stops the service (the delivery-retry rule).

Backpressure has two steps. First, intake takes only what fits: `room` is how many posts the next
consume() may take (the bound minus posts in flight), so at the bound the poll loop takes nothing and
waits for acknowledgements while librdkafka keeps its prefetched messages. Second, pausing, which is
costly in librdkafka (a paused partition's prefetched messages are dropped and fetched again on resume,
about half a second), is kept for when intake has been held at or above the bound for `pause_after_s`
(the pipeline is stuck, and the loop must go back to serving rebalances) and for stopping. Above the
bound is not an emergency: the bound shrank, or posts whose image arrived rejoined the count
(consumer/image_budget.py); intake simply takes nothing until there is room. It is hysteresis:

    in flight   0 ........ resume_below x max ........ max_in_flight ........
    paused?     resume ◄── (below the low mark)        (held pause_after_s) ──► pause
                           between the marks: keep the current state

    >>> bp = Backpressure(max_in_flight=100, resume_below=0.5, pause_after_s=1.0)
    >>> bp.room(in_flight=90)
    10
    >>> bp.decide(in_flight=100, stopping=False, assignment_changed=False, now=0.0)  # held, not paused
    <Move.KEEP: 'keep'>
    >>> bp.decide(in_flight=100, stopping=False, assignment_changed=False, now=1.0)  # held too long
    <Move.PAUSE: 'pause'>
    >>> bp.decide(in_flight=60, stopping=False, assignment_changed=False, now=1.1)   # still above 50
    <Move.KEEP: 'keep'>

A stopping service pauses everything, and a changed assignment re-pauses (new partitions start resumed).
Posts waiting for their image are not counted in `in_flight`: they have a budget of their own
(consumer/image_budget.py), whose own marks come in as `images_over` (pause) and `images_under` (may resume).
"""

from __future__ import annotations

import enum

from consumer.errors import MAX_RETRIES, Action


class Move(enum.Enum):
    PAUSE = "pause"  # pause every assigned partition
    RESUME = "resume"  # resume every assigned partition
    KEEP = "keep"  # nothing to do


class Backpressure:
    """Take at most `max_in_flight` posts in flight; pause when held at or above it for `pause_after_s`
    (0: at once), resume below `resume_below` x that. Not thread-safe: the poll loop owns it."""

    def __init__(self, max_in_flight: int, resume_below: float, *, pause_after_s: float = 0.0) -> None:
        if max_in_flight <= 0 or not 0 < resume_below < 1 or pause_after_s < 0:
            raise ValueError("max_in_flight must be positive, resume_below in (0, 1), pause_after_s >= 0")
        self._high = max_in_flight
        self._low = resume_below * max_in_flight
        self._pause_after_s = pause_after_s
        self._held_since: float | None = None  # when intake last found no room (None: it has room)
        self.holds = 0  # times intake began to wait for room (a metric)
        self.paused = False

    def room(self, in_flight: int) -> int:
        """Posts the next consume() may take: none while paused (the image budget has its own room)."""
        if self.paused:
            return 0
        return max(0, self._high - in_flight)

    def retarget(self, max_in_flight: int) -> None:
        """Move the bound (consumer/inflight_bound.py adapts it); the low mark keeps its ratio."""
        if max_in_flight <= 0:
            raise ValueError("max_in_flight must be positive")
        self._low = self._low / self._high * max_in_flight
        self._high = max_in_flight

    @property
    def limit(self) -> int:
        return self._high

    def decide(
        self,
        *,
        in_flight: int,
        stopping: bool,
        assignment_changed: bool,
        images_over: bool = False,
        images_under: bool = True,
        now: float = 0.0,
    ) -> Move:
        """The move to make now; the caller makes it. `paused` is updated as if it were made."""
        held = in_flight >= self._high or images_over
        if not held:
            self._held_since = None
        elif self._held_since is None:
            self._held_since = now
            self.holds += 1
        held_too_long = self._held_since is not None and now - self._held_since >= self._pause_after_s
        if stopping or held_too_long:
            if self.paused and not assignment_changed:
                return Move.KEEP
            self.paused = True
            return Move.PAUSE
        if self.paused and in_flight < self._low and images_under:
            self.paused = False
            return Move.RESUME
        return Move.KEEP


def retry_delivery(action: Action, attempts: int, max_retries: int = MAX_RETRIES) -> bool:
    """Whether an output the broker refused is published again: only RETRY errors, and only while it has
    been tried at most `max_retries` times (`attempts` counts the tries so far, the first included).

    >>> retry_delivery(Action.RETRY, attempts=1)
    True
    >>> retry_delivery(Action.RETRY, attempts=MAX_RETRIES + 1)   # out of retries: stop
    False
    """
    return action is Action.RETRY and attempts <= max_retries
