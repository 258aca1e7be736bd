"""Collect the consumer's outcomes for the demo's posts, and sum them up.

`Collector` reads the results and dead-letter topics (assigned, no group, from the beginning) and
keeps one outcome per post_id (the latest: delivery is at-least-once). `summarize` is plain logic:
throughput, latency percentiles, cache hits, dead letters, and accuracy against the demo's truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from pydantic import ValidationError

from events.dead_letter import parse_dead_letter_headers
from events.kafka import common_config
from events.schemas import Result
from events.settings import KafkaSettings
from modstream.demo.data import BENIGN, LABELS, DemoPost
from modstream.dlq import header_pairs


@dataclass(frozen=True)
class Outcome:
    post_id: str
    result: Result | None  # None for a dead letter
    dead_letter: dict[str, str] | None  # its modstream.* headers
    at: float  # broker timestamp of the outcome message (seconds since the epoch)


class Collector:
    def __init__(self, kafka: KafkaSettings, topics: Iterable[str], dlq_topic: str) -> None:
        self._consumer = Consumer(
            common_config(kafka) | {"group.id": "modstream-demo-observer", "enable.auto.commit": False}
        )
        self._dlq = dlq_topic
        assignment = []
        for topic in [*topics, dlq_topic]:
            described = self._consumer.list_topics(topic, timeout=10).topics[topic]
            assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in described.partitions]
        self._consumer.assign(assignment)
        self.outcomes: dict[str, Outcome] = {}

    def collect(
        self,
        expected: set[str],
        *,
        timeout_s: float,
        on_outcome: Callable[[int], None] = lambda _n: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> set[str]:
        """Read until every post in `expected` has an outcome (or the timeout); returns the missing."""
        deadline = clock() + timeout_s
        missing = set(expected) - set(self.outcomes)
        while missing and clock() < deadline:
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"reading outcomes: {err}")
                continue
            outcome = self._outcome(msg)
            if outcome is None:
                continue
            self.outcomes[outcome.post_id] = outcome
            if outcome.post_id in missing:
                missing.discard(outcome.post_id)
                on_outcome(len(expected) - len(missing))
        return missing

    def _outcome(self, msg: Message) -> Outcome | None:
        at = msg.timestamp()[1] / 1000.0
        if msg.topic() == self._dlq:
            key = (msg.key() or b"").decode("utf-8", "replace")
            return Outcome(key, None, parse_dead_letter_headers(header_pairs(msg.headers())), at)
        try:
            result = Result.model_validate_json(msg.value() or b"")
        except ValidationError:
            return None
        return Outcome(result.post_id, result, None, at)

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class Summary:
    posts: int
    results: int
    dead_letters: int
    missing: int
    seconds: float
    throughput: float  # outcomes per second, first post sent -> last outcome
    p50_ms: float
    p99_ms: float
    cache_hits: int
    scored_both: int  # posts with text and a fetched image: the ones accuracy is measured on
    top1_accuracy: float  # the top label is one of the true labels
    flagged_accuracy: float  # flagged == (a non-benign label is true)
    baseline_top1: float  # always answering the single most common true label
    blind_spot_top1: float | None  # top-1 accuracy on the blind-spot posts alone
    versions: dict[str, int]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))  # ceil(q/100 * n)
    return ordered[rank - 1]


def summarize(posts: list[DemoPost], outcomes: dict[str, Outcome], sent_at: dict[str, float]) -> Summary:
    mine = [outcomes[p.post_id] for p in posts if p.post_id in outcomes]
    results = [o for o in mine if o.result is not None]
    latencies = [max(0.0, o.at - sent_at[o.post_id]) * 1000 for o in mine]
    start = min(sent_at[p.post_id] for p in posts)
    seconds = max((o.at for o in mine), default=start) - start
    judged = [
        (p, outcomes[p.post_id].result)
        for p in posts
        if p.kind == "both" and p.post_id in outcomes and outcomes[p.post_id].result is not None
    ]
    judged = [(p, r) for p, r in judged if r is not None and r.image_status == "ok"]

    def top1(pairs: list[tuple[DemoPost, Result | None]]) -> float:
        return sum(1 for p, r in pairs if r is not None and r.labels[0].label in p.truth) / max(1, len(pairs))

    flagged_ok = sum(1 for p, r in judged if r is not None and r.flagged == (p.truth != (BENIGN,)))
    truth_sets = [p.truth for p, _r in judged]
    baseline = max((sum(label in t for t in truth_sets) for label in LABELS), default=0) / max(1, len(judged))
    blind = [(p, r) for p, r in judged if p.in_blind_spot]
    versions: dict[str, int] = {}
    for o in results:
        assert o.result is not None
        versions[o.result.model_version] = versions.get(o.result.model_version, 0) + 1
    return Summary(
        posts=len(posts),
        results=len(results),
        dead_letters=len(mine) - len(results),
        missing=len(posts) - len(mine),
        seconds=seconds,
        throughput=len(mine) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        cache_hits=sum(1 for o in results if o.result is not None and o.result.cached),
        scored_both=len(judged),
        top1_accuracy=top1(judged),
        flagged_accuracy=flagged_ok / max(1, len(judged)),
        baseline_top1=baseline,
        blind_spot_top1=top1(blind) if blind else None,
        versions=versions,
    )
