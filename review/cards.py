"""The console's memory: posts and results joined by post_id, bounded, in either order of arrival.

    >>> store = CardStore(max_cards=2000, max_unjoined=2000)
    >>> store.add_result(result)        # None: its post has not been seen yet, the result waits
    >>> card = store.add_post(post)     # the joined card
    >>> store.changed_since(cursor=0, limit=100)   # what a page has not been sent yet

A card exists once both halves are here; a post or a result waiting for its other half is kept in a
bounded least-recently-seen table, so a flood of one kind can only push out the oldest of that kind.
Joined cards are ordered by their last change; when `max_cards` is passed the card changed longest
ago is dropped. Every change (join, new result for the same post, decision) takes the next sequence
number, so a page asks "what changed after N" and is never sent a card twice for one change.

It takes a lock on every call: the Kafka reader thread writes while the web server's loop reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.schemas import Post, Result

MAX_LABELS = 64  # a result naming more labels than this is not from a modstream model
MAX_LABEL_CHARS = 64
MAX_VERSION_CHARS = 128


@dataclass
class Decision:
    labels: list[str]
    moderator_id: str
    decided_at: datetime


@dataclass
class Card:
    post: Post
    result: Result
    seq: int
    decision: Decision | None = None

    @property
    def post_id(self) -> str:
        return self.post.post_id

    def to_json(self) -> dict[str, Any]:
        """What the page is sent: no image URL (the page only ever asks the console for a thumbnail)."""
        result = self.result
        return {
            "post_id": self.post.post_id,
            "seq": self.seq,
            "text": self.post.text,
            "has_image": self.post.image_url is not None,
            "labels": [{"label": ls.label, "score": ls.score} for ls in result.labels[:3]],
            "scores": dict(result.scores),
            "flagged": result.flagged,
            "image_status": result.image_status,
            "cached": result.cached,
            "model_version": result.model_version[:MAX_VERSION_CHARS],
            "processed_at": result.processed_at.isoformat(),
            "decision": None
            if self.decision is None
            else {
                "labels": self.decision.labels,
                "moderator_id": self.decision.moderator_id,
                "decided_at": self.decision.decided_at.isoformat(),
            },
        }


def plausible_result(result: Result) -> bool:
    """False for a result too large to be a model's: it is dropped rather than shown or kept."""
    names = [*result.scores, *(ls.label for ls in result.labels)]
    return len(result.scores) <= MAX_LABELS and all(len(name) <= MAX_LABEL_CHARS for name in names)


def card_order(card: Card) -> tuple[bool, int]:
    """Sort key: flagged first, then the most recent change first (use with reverse=True)."""
    return (card.result.flagged, card.seq)


class CardStore:
    def __init__(self, *, max_cards: int, max_unjoined: int) -> None:
        self._max_cards = max_cards
        self._max_unjoined = max_unjoined
        self._cards: OrderedDict[str, Card] = OrderedDict()  # by last change, oldest first
        self._posts: OrderedDict[str, Post] = OrderedDict()  # waiting for their result
        self._results: OrderedDict[str, Result] = OrderedDict()  # waiting for their post
        self._seq = 0
        self._lock = threading.Lock()

    @property
    def seq(self) -> int:
        return self._seq

    def __len__(self) -> int:
        return len(self._cards)

    def pending(self) -> tuple[int, int]:
        """(posts, results) waiting for their other half."""
        with self._lock:
            return len(self._posts), len(self._results)

    def add_post(self, post: Post) -> Card | None:
        with self._lock:
            card = self._cards.get(post.post_id)
            if card is not None:  # the same post again: a replay changes nothing; an edit is a change
                if card.post == post:
                    return None
                card.post = post
                return self._touch(card)
            result = self._results.pop(post.post_id, None)
            if result is None:
                _put_bounded(self._posts, post.post_id, post, self._max_unjoined)
                return None
            return self._join(post, result)

    def add_result(self, result: Result) -> Card | None:
        if not plausible_result(result):
            return None
        with self._lock:
            card = self._cards.get(result.post_id)
            if card is not None:  # rescored (a new model version, or a redelivery): the latest wins
                if card.result == result:
                    return None
                card.result = result
                return self._touch(card)
            post = self._posts.pop(result.post_id, None)
            if post is None:
                _put_bounded(self._results, result.post_id, result, self._max_unjoined)
                return None
            return self._join(post, result)

    def get(self, post_id: str) -> Card | None:
        with self._lock:
            return self._cards.get(post_id)

    def decide(self, post_id: str, decision: Decision) -> Card | None:
        with self._lock:
            card = self._cards.get(post_id)
            if card is None:
                return None
            card.decision = decision
            return self._touch(card)

    def snapshot(
        self,
        *,
        limit: int,
        flagged_only: bool = False,
        label: str | None = None,
        undecided_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Up to `limit` cards matching the filters, flagged first, then most recently changed.

        `label` keeps the cards whose top label (the highest score) it is.
        """
        with self._lock:
            chosen = [
                card
                for card in self._cards.values()
                if (not flagged_only or card.result.flagged)
                and (not undecided_only or card.decision is None)
                and (label is None or (bool(card.result.labels) and card.result.labels[0].label == label))
            ]
            chosen.sort(key=card_order, reverse=True)
            return [card.to_json() for card in chosen[:limit]]

    def changed_since(self, cursor: int, *, limit: int) -> tuple[list[dict[str, Any]], int, int]:
        """Cards changed after `cursor`: (up to `limit` of them, flagged first; new cursor; count left out).

        A page that falls behind is not sent a backlog: it gets the `limit` that matter most and the
        count of the rest, and its cursor moves to now.
        """
        with self._lock:
            changed: list[Card] = []
            for card in reversed(self._cards.values()):  # newest change first; stop at the cursor
                if card.seq <= cursor:
                    break
                changed.append(card)
            changed.sort(key=card_order, reverse=True)
            sent = [card.to_json() for card in changed[:limit]]
            return sent, self._seq, len(changed) - len(sent)

    def _join(self, post: Post, result: Result) -> Card:
        self._seq += 1
        card = Card(post=post, result=result, seq=self._seq)
        self._cards[post.post_id] = card
        while len(self._cards) > self._max_cards:
            self._cards.popitem(last=False)
        return card

    def _touch(self, card: Card) -> Card:
        self._seq += 1
        card.seq = self._seq
        self._cards.move_to_end(card.post_id)
        return card


def _put_bounded(table: OrderedDict[str, Any], key: str, value: Any, bound: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > bound:
        table.popitem(last=False)
