"""The offset ledger: which input offsets may be committed, per partition.

An offset is *taken* when the poll loop hands the message to the pipeline, and *done* when the broker
acknowledged its result or its dead letter (the producer's delivery report, not the produce call). The
committable offset of a partition is the contiguous watermark: the lowest offset still in flight, or one
past the highest offset taken when nothing is in flight (Kafka commits "the next offset to read").

    taken:   10  11  12  13  14          (offsets of one partition, in the order polled)
    done:     x       x   x
    commit:      11                      11 is unfinished, so 12 and 13 wait behind it
    then 11 done  ->  commit 14          14 is still in flight
    then 14 done  ->  commit 15          nothing in flight: one past the highest taken

Offsets need not be contiguous (compaction and transaction markers leave gaps); the rule only looks at
offsets that were taken. A partition that is revoked is committed up to its watermark and forgotten;
a lost partition is forgotten without a commit (another member owns it already). A delivery failure is
never `done`: the watermark cannot pass it.

    >>> ledger = OffsetLedger()
    >>> for offset in (10, 11, 12):
    ...     ledger.take(("posts", 0), offset)
    >>> ledger.done(("posts", 0), 11)
    >>> ledger.committable()
    {('posts', 0): 10}
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass
class _Partition:
    in_order: deque[int] = field(default_factory=deque)  # offsets taken and not yet passed by the watermark
    finished: set[int] = field(default_factory=set)  # done, but behind an unfinished offset
    outstanding: set[int] = field(default_factory=set)  # taken and not yet done
    highest: int | None = None  # highest offset taken
    committed: int | None = None  # the last watermark handed out as committed

    def watermark(self) -> int | None:
        self._advance()
        if self.in_order:
            return self.in_order[0]
        return None if self.highest is None else self.highest + 1

    def _advance(self) -> None:
        while self.in_order and self.in_order[0] in self.finished:
            self.finished.discard(self.in_order.popleft())

    def pending(self) -> int:
        return len(self.outstanding)


class OffsetLedger:
    """Per-partition bookkeeping of taken and finished offsets. Plain data: one thread owns it."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _Partition] = {}

    def take(self, tp: TopicPartition, offset: int) -> None:
        """Record that `offset` of `tp` entered the pipeline. Offsets of a partition arrive increasing."""
        part = self._parts.setdefault(tp, _Partition())
        if part.highest is not None and offset <= part.highest:
            raise ValueError(f"offset {offset} of {tp} taken after {part.highest}")
        part.in_order.append(offset)
        part.outstanding.add(offset)
        part.highest = offset

    def done(self, tp: TopicPartition, offset: int) -> bool:
        """Mark `offset` finished (its output was acknowledged). False when the ledger does not know it
        (a partition revoked or lost meanwhile: the completion of abandoned work is ignored)."""
        part = self._parts.get(tp)
        if part is None or offset not in part.outstanding:
            return False
        part.outstanding.discard(offset)
        part.finished.add(offset)
        part._advance()
        return True

    def in_flight(self, tp: TopicPartition | None = None) -> int:
        """Offsets taken and not yet done, for one partition or in all."""
        if tp is not None:
            part = self._parts.get(tp)
            return 0 if part is None else part.pending()
        return sum(part.pending() for part in self._parts.values())

    def watermark(self, tp: TopicPartition) -> int | None:
        part = self._parts.get(tp)
        return None if part is None else part.watermark()

    def committable(self) -> dict[TopicPartition, int]:
        """Watermarks that moved since they were last marked committed."""
        out: dict[TopicPartition, int] = {}
        for tp, part in self._parts.items():
            mark = part.watermark()
            if mark is not None and mark != part.committed:
                out[tp] = mark
        return out

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        """The broker accepted these commits (a failed commit is simply tried again later)."""
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = offset

    def revoke(self, tp: TopicPartition) -> int | None:
        """Forget a revoked partition; returns the offset to commit for it (its watermark), if any moved.

        The caller drains first (waits, with a deadline, until `in_flight(tp)` is 0); whatever is still
        unfinished is abandoned: the watermark stays below it and the next owner reads it again."""
        part = self._parts.pop(tp, None)
        if part is None:
            return None
        mark = part.watermark()
        return None if mark is None or mark == part.committed else mark

    def lose(self, tp: TopicPartition) -> None:
        """Forget a lost partition without committing: another member may own it already."""
        self._parts.pop(tp, None)

    def partitions(self) -> list[TopicPartition]:
        return list(self._parts)
