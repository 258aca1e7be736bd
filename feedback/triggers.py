"""When to retrain: a pure decision over counts and times, the clock passed in.

    >>> trigger = RetrainTrigger(RetrainPolicy(min_examples=200, interval_s=3600), clock=time.time)
    >>> trigger.decide(store.training_state(), new_examples=store.count_new_since(...)).action
    'wait'

The rules, first match wins:

    a training was started and never finished  -> "resume"   (the process died mid-training)
        ... and it has already been tried max_attempts times -> "give_up" (it crashes the process)
    no new example since the last training     -> "wait"     (nothing to learn)
    the last training raised, < interval ago   -> "wait"     (back off instead of spinning)
    new examples >= min_examples               -> "train"
    interval_s elapsed since the last training -> "train"    (at least one new example, see above)
    otherwise                                  -> "wait"

Times are wall-clock seconds (time.time), not monotonic: "the last training" may have happened before
the process restarted, and its time is read back from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from feedback.store import TrainingState

Action = Literal["wait", "train", "resume", "give_up"]


@dataclass(frozen=True)
class RetrainPolicy:
    min_examples: int  # retrain after this many new examples...
    interval_s: float  # ...or after this long with at least one
    max_attempts: int = 3  # starts of one training (first + resumes) before it is abandoned


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(
    policy: RetrainPolicy,
    *,
    new_examples: int,
    now: float,
    last_training_at: float,
    last_failed: bool,
    running_attempts: int | None,
) -> Decision:
    """The rule table of the module docstring. `running_attempts` is None when no training is open."""
    if running_attempts is not None:
        if running_attempts >= policy.max_attempts:
            return Decision("give_up", f"an unfinished training was started {running_attempts} times")
        return Decision("resume", f"a training was started and not finished (attempt {running_attempts})")
    if new_examples <= 0:
        return Decision("wait", "no new examples")
    elapsed = now - last_training_at
    if last_failed and elapsed < policy.interval_s:
        return Decision("wait", f"the last training failed {elapsed:.0f}s ago; backing off")
    if new_examples >= policy.min_examples:
        return Decision("train", f"{new_examples} new examples >= {policy.min_examples}")
    if elapsed >= policy.interval_s:
        return Decision("train", f"{elapsed:.0f}s since the last training with {new_examples} new")
    return Decision("wait", f"{new_examples} new examples, {elapsed:.0f}s since the last training")


class RetrainTrigger:
    """`decide` with the clock bound; the service asks it after every batch and every idle poll."""

    def __init__(self, policy: RetrainPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock

    def decide(self, state: TrainingState, *, new_examples: int) -> Decision:
        return decide(
            self.policy,
            new_examples=new_examples,
            now=self._clock(),
            last_training_at=state.last_training_at,
            last_failed=state.last_failed,
            running_attempts=None if state.running is None else state.running.attempts,
        )
