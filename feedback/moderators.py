"""Moderators as a trust boundary: whose decision labels a post, and how much of a retrain one may fill.

Disagreement on one post (`resolve`). Each moderator counts once, with their latest decision (the store
keeps one per moderator and post). The label set chosen by the most distinct moderators wins; a tie goes
to the side holding the most recent decision. So a moderator who writes last cannot overturn two
colleagues, and one moderator repeating themselves counts once:

    alice: Racist (t1)   bob: Racist (t2)   mallory: NotHate (t9)      -> Racist   (2 moderators to 1)
    alice: Racist (t1)   mallory: NotHate (t9)                          -> NotHate  (1 to 1: latest wins)

Benign has two spellings, `[]` and `["NotHate"]`: both are the same set here (`benign_label`).

The cap (`cap_per_moderator`). Of the NEW examples of a retrain, one moderator may supply at most
`share` of the examples the retrain uses. The largest per-moderator limit k with

    k <= share * sum_i min(count_i, k)          (count_i: moderator i's new examples)

is used (the left side grows by 1 per step of k, the right by share * the number of moderators still
above k, so the admissible k form an interval [0, k*]: a binary search finds k*). Each moderator's
oldest k* examples go in; the rest are deferred (kept for a later retrain, never dropped). One moderator
alone, with share < 1, trains nothing: a flood needs colleagues to be heard.

    share 0.25, counts {mallory: 301, a: 30, b: 30, c: 30, d: 30}  -> k* = 40: mallory 40, others 30 each
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

ANONYMOUS = ""  # every decision without a moderator_id counts as this one moderator

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Decision:
    moderator_id: str
    labels: tuple[str, ...]
    decided_at_us: int  # microseconds since the epoch, UTC


def label_key(labels: Sequence[str], benign_label: str | None) -> tuple[str, ...]:
    """One spelling per label set: sorted, distinct, and the benign label alone is the empty set."""
    names = sorted(set(labels))
    return () if benign_label is not None and names == [benign_label] else tuple(names)


def resolve(decisions: Sequence[Decision], benign_label: str | None) -> Decision:
    """The decision that labels the post: see the module docstring. `decisions` must not be empty."""
    if not decisions:
        raise ValueError("no decision to resolve")
    latest: dict[str, Decision] = {}
    for decision in decisions:
        held = latest.get(decision.moderator_id)
        if held is None or decision.decided_at_us > held.decided_at_us:
            latest[decision.moderator_id] = decision
    votes: Counter[tuple[str, ...]] = Counter()
    newest: dict[tuple[str, ...], Decision] = {}
    for decision in latest.values():
        key = label_key(decision.labels, benign_label)
        votes[key] += 1
        if key not in newest or decision.decided_at_us > newest[key].decided_at_us:
            newest[key] = decision
    winner = max(votes, key=lambda key: (votes[key], newest[key].decided_at_us))
    return newest[winner]


def cap_limit(counts: Sequence[int], share: float) -> int:
    """The largest per-moderator limit k* (module docstring); `max(counts)` when nobody is over share."""
    if not counts or share >= 1.0:
        return max(counts, default=0)

    def admissible(k: int) -> bool:
        return k <= share * sum(min(count, k) for count in counts)

    low, high = 0, max(counts)  # admissible(0) always holds
    while low < high:
        mid = (low + high + 1) // 2
        if admissible(mid):
            low = mid
        else:
            high = mid - 1
    return low


def cap_per_moderator(new: Sequence[tuple[K, str]], share: float) -> tuple[list[K], list[K]]:
    """`new`: (key, moderator_id) in ingestion order -> (selected, deferred), each in that order."""
    counts = Counter(moderator for _, moderator in new)
    limit = cap_limit(list(counts.values()), share)
    taken: Counter[str] = Counter()
    selected: list[K] = []
    deferred: list[K] = []
    for key, moderator in new:
        if taken[moderator] < limit:
            taken[moderator] += 1
            selected.append(key)
        else:
            deferred.append(key)
    return selected, deferred
