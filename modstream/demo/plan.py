"""How big a demo run is: posts streamed, training data, feedback, epochs (`--quick` or the full story)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    posts: int  # streamed before the retrain, reposts included
    reposts: int  # of those, shares of earlier posts (cache hits)
    train_examples: int  # historical data of the first model
    feedback: int  # moderators' decisions sent to the trainer
    after_swap: int  # posts streamed after the hot swap
    epochs: int

    @classmethod
    def full(cls, posts: int = 200) -> Plan:
        return cls(
            posts=posts, reposts=posts // 8, train_examples=600, feedback=600, after_swap=60, epochs=50
        )

    @classmethod
    def quick(cls) -> Plan:
        # Fewer posts; the same training (a smaller one is not reliably well above chance).
        return cls(posts=60, reposts=8, train_examples=600, feedback=600, after_swap=30, epochs=50)
