"""Fuzz target (a): hostile posts through the consumer's real decode-and-route path.

The real `ConsumerService._intake` (decode, dead letter, cache lookup, routing) and the real `KafkaOutlet`
run against plain stubs at the I/O edge: a sink that refuses what librdkafka refuses (too large), a cache
whose values are hostile bytes (or which fails), a fetcher that sometimes refuses a submission, and the
prep worker's inbox. Whatever the messages, each one ends in exactly one outcome (dead letter, cached
result, image fetch or prep), every output is accepted by the sink (a dead letter that would not fit goes
as a reference letter), a message is dead-lettered exactly when the decoder refuses it, and nothing raises.
"""

from __future__ import annotations

import hashlib
import json
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from hypothesis import event, given
from hypothesis import strategies as st

from consumer.cache_codec import ResultCodec
from consumer.cache_lookup import ResultLookup
from consumer.outlet import Completion, KafkaOutlet
from consumer.service import ConsumerService
from events.dead_letter import parse_dead_letter_headers
from events.kafka import PRODUCER_MAX_MESSAGE_BYTES
from events.schemas import InvalidEvent, Result, decode_post
from events.settings import Settings
from tests.fuzz.grammar import keys, posts

SETTINGS = Settings(_env_file=None, redis={"url": "memory://"})
CACHED = Result(
    post_id="someone-else",
    labels=[{"label": "Racist", "score": 0.9}],  # type: ignore[list-item]
    scores={"Racist": 0.9},
    flagged=True,
    model_version="v1",
    image_status="ok",
).model_dump_json()
# what a hostile (or stale) Redis may hold for a key: unsigned, forged, or signed for another key
CODEC = ResultCodec(b"fuzz-signing-key")
CACHE_VALUES: list[bytes | None] = [
    None,
    None,
    CACHED.encode(),
    b"ms1:" + b"0" * 64 + b":" + CACHED.encode(),
    CODEC.seal("another-key", CACHED.encode()),
    b"garbage",
    b"[" * 50_000,
    b"{}",
    b"\xff",
]


class LimitSink:
    """What librdkafka checks at produce(): a message over message.max.bytes raises."""

    max_message_bytes = PRODUCER_MAX_MESSAGE_BYTES

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any]] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Any,
        *,
        on_delivery: Callable[[str | None], None],
    ) -> None:
        size = len(key or b"") + len(value or b"") + sum(len(n) + len(v or b"") for n, v in headers or [])
        if size > self.max_message_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.sent.append((topic, key, value, headers))
        on_delivery(None)


class HostileCache:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if self.fail:
            raise ConnectionError("redis went away")
        return [
            CACHE_VALUES[int(hashlib.sha256(k.encode()).hexdigest(), 16) % len(CACHE_VALUES)] for k in keys
        ]


class StubFetcher:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, url: str) -> Future[Any]:
        if url.startswith("ftp"):
            raise ValueError("unsupported scheme")
        self.submitted.append(url)
        return Future()  # never completes here: the job's outcome is "waiting for its image"


def _service(cache_fails: bool | None) -> tuple[ConsumerService, KafkaOutlet, LimitSink, StubFetcher, Any]:
    service = ConsumerService(SETTINGS)
    sink, fetcher = LimitSink(), StubFetcher()
    outlet = KafkaOutlet(sink, SETTINGS.topics)  # type: ignore[arg-type]
    prep = SimpleNamespace(inbox=queue.SimpleQueue())
    cache = None if cache_fails is None else HostileCache(cache_fails)
    service._parts = SimpleNamespace(
        outlet=outlet,
        fetcher=fetcher,
        prep=prep,
        cache=cache,
        lookup=None if cache is None else ResultLookup(cache, CODEC, prefix="fuzz:"),  # type: ignore[arg-type]
        manager=SimpleNamespace(current=SimpleNamespace(version="v1", labels=("Racist",))),
    )
    return service, outlet, sink, fetcher, prep


def _drain(q: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


@given(
    messages=st.lists(st.tuples(keys(), posts()), min_size=1, max_size=4),
    cache_fails=st.sampled_from([None, False, True]),
)
def test_every_post_gets_exactly_one_outcome(
    messages: list[tuple[bytes | None, bytes | None]], cache_fails: bool | None
) -> None:
    service, outlet, sink, fetcher, prep = _service(cache_fails)
    records = [
        SimpleNamespace(topic="posts", partition=0, offset=i, key=key, value=value, timestamp_s=None)
        for i, (key, value) in enumerate(messages)
    ]
    service._intake(records)  # must not raise, whatever the messages

    completions: list[Completion] = _drain(outlet.completions)
    inbox = _drain(prep.inbox)
    outcomes: dict[int, list[str]] = {}
    for done in completions:
        outcomes.setdefault(done.job.where.offset, []).append("dead" if done.stage else "cached")
    for job in inbox:
        outcomes.setdefault(job.where.offset, []).append("prep")
    waiting = len(fetcher.submitted)
    assert waiting + len(completions) + len(inbox) == len(records)
    assert all(len(kinds) == 1 for kinds in outcomes.values())
    assert service.ledger.in_flight() == len(records)
    assert all(done.error is None for done in completions), [d.error for d in completions]
    assert len(sink.sent) == len(completions)  # every output was accepted by the producer

    for done in completions:
        event(f"outcome: {'reference letter' if done.reference else done.stage or 'cached'}")
    for i, (_key, value) in enumerate(messages):
        try:
            decode_post(value)
            refused: str | None = None
        except InvalidEvent as exc:
            refused = exc.reason
        event(f"decode: {refused or 'ok'}")
        dead = [d for d in completions if d.job.where.offset == i and d.stage]
        if refused is None:
            assert not dead, f"valid post {i} was dead-lettered"
            continue
        [letter] = dead
        assert (letter.stage, letter.reason) == ("decode", refused)
        meta = parse_dead_letter_headers(letter.headers)  # type: ignore[arg-type]
        assert (meta["stage"], meta["error.type"], meta["source.offset"]) == ("decode", refused, str(i))
        if letter.reference:
            body = json.loads(letter.value or b"")
            assert body["length"] == len(value or b"") and meta["truncated"] == "reference"
        else:
            assert (letter.key, letter.value) == (messages[i][0], value)  # the original, unchanged
