"""The poll loop's two small rules, as plain logic: when to pause and resume intake (backpressure), and
whether a refused output is published again or stops the service (the delivery-retry rule).

Backpressure is hysteresis over the number of posts in flight (taken, not yet acknowledged):

    in flight   0 ........ resume_below x max ........ max_in_flight ........
    paused?     resume ◄── (below the low mark)        (above the bound) ──► pause
                           between the marks: keep the current state

    >>> bp = Backpressure(max_in_flight=100, resume_below=0.5)
    >>> bp.decide(in_flight=101, stopping=False, assignment_changed=False)
    <Move.PAUSE: 'pause'>
    >>> bp.decide(in_flight=60, stopping=False, assignment_changed=False)   # still above 50
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
    """Pause above `max_in_flight` posts in flight, resume below `resume_below` x that. Not thread-safe:
    the poll loop owns it."""

    def __init__(self, max_in_flight: int, resume_below: float) -> None:
        if max_in_flight <= 0 or not 0 < resume_below < 1:
            raise ValueError("max_in_flight must be positive and resume_below in (0, 1)")
        self._high = max_in_flight
        self._low = resume_below * max_in_flight
        self.paused = False

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
    ) -> Move:
        """The move to make now; the caller makes it. `paused` is updated as if it were made."""
        if stopping or in_flight > self._high or images_over:
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
