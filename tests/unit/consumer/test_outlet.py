"""The outlet and the sink: a dead letter can always be sent (a reference letter when the original does
not fit), and no producer refusal ever raises out of a stage: it is that one output's failed delivery."""

from __future__ import annotations

import hashlib
import json
import queue
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer.errors import ImageUnavailable, InvalidPost, Where
from consumer.kafka_sink import Headers, KafkaSink
from consumer.outlet import Completion, KafkaOutlet
from consumer.routing import Job
from consumer.workers import ModelWorker, PrepWorker
from events.dead_letter import LETTER_HEADROOM, parse_dead_letter_headers
from events.kafka import PRODUCER_MAX_MESSAGE_BYTES
from events.schemas import MAX_MESSAGE_BYTES, Post
from events.settings import TopicSettings

TOPICS = TopicSettings()


class FakeSink:
    """Checks what librdkafka checks at produce(): too large raises; `refuse` raises for any topic in it."""

    def __init__(
        self, max_message_bytes: int = PRODUCER_MAX_MESSAGE_BYTES, refuse: frozenset[str] = frozenset()
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.refuse = refuse
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers | None]] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        *,
        on_delivery: Callable[[str | None], None],
    ) -> None:
        size = len(key or b"") + len(value or b"") + sum(len(n) + len(v or b"") for n, v in headers or [])
        if size > self.max_message_bytes or topic in self.refuse:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.sent.append((topic, key, value, headers))
        on_delivery(None)


def _job(raw: bytes | None, key: bytes | None = b"k1") -> Job:
    return Job(Where("posts", 3, 99, "k1"), key, raw, consumed_at=0.0)


def _drain(outlet: KafkaOutlet) -> list[Completion]:
    out = []
    while True:
        try:
            out.append(outlet.completions.get_nowait())
        except queue.Empty:
            return out


def test_a_letter_that_fits_carries_the_original_unchanged() -> None:
    sink = FakeSink()
    outlet = KafkaOutlet(sink, TOPICS)  # type: ignore[arg-type]
    raw = b"x" * 10_000
    outlet.dead_letter(_job(raw), InvalidPost("not_json", "x"))
    [(topic, key, value, headers)] = sink.sent
    assert (topic, key, value) == (TOPICS.dlq, b"k1", raw)
    assert "truncated" not in parse_dead_letter_headers(headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "reference"),
    [
        (PRODUCER_MAX_MESSAGE_BYTES - LETTER_HEADROOM - 8000, False),  # fits with key and headers
        (PRODUCER_MAX_MESSAGE_BYTES - LETTER_HEADROOM - 4000, True),  # the key and headers push it over
        (MAX_MESSAGE_BYTES - 300, True),  # the attack: just under the decode limit
        (MAX_MESSAGE_BYTES, True),
        (MAX_MESSAGE_BYTES + 40_000, True),  # over the decode limit (another producer allowed it)
    ],
)
def test_a_letter_near_or_over_the_limit_goes_as_a_reference(size: int, reference: bool) -> None:
    sink = FakeSink()
    outlet = KafkaOutlet(sink, TOPICS)  # type: ignore[arg-type]
    raw = b"\xff" + b"[" * (size - 1)
    outlet.dead_letter(_job(raw, key=b"K" * 5000), InvalidPost("oversized", "x"))
    [done] = _drain(outlet)
    assert done.error is None and done.stage == "decode"
    [(topic, key, value, headers)] = sink.sent
    assert topic == TOPICS.dlq and value is not None
    if not reference:
        assert (value, key, done.reference) == (raw, b"K" * 5000, False)
        return
    assert done.reference and key == b"K" * 1024
    meta = parse_dead_letter_headers(headers)  # type: ignore[arg-type]
    assert meta["truncated"] == "reference" and meta["error.type"] == "oversized"
    body = json.loads(value)
    assert body["source"] == {"topic": "posts", "partition": 3, "offset": 99}
    assert (body["length"], body["sha256"]) == (size, hashlib.sha256(raw).hexdigest())
    assert body["head"].startswith("\ufffd[[[") and body["key_length"] == 5000
    assert len(value) < 4000


def test_a_letter_the_broker_refuses_as_too_large_is_resent_as_a_reference() -> None:
    sink = FakeSink()
    outlet = KafkaOutlet(sink, TOPICS)  # type: ignore[arg-type]
    outlet.dead_letter(_job(b"{" * 900_000), InvalidPost("not_json", "x"))
    [done] = _drain(outlet)
    assert not done.reference
    done.error = "MSG_SIZE_TOO_LARGE: Broker: Message size too large"  # the broker's later answer
    outlet.resend(done)
    [again] = _drain(outlet)
    assert again.error is None and again.reference and again.attempts == 2
    assert json.loads(sink.sent[-1][2] or b"")["length"] == 900_000


def test_a_producer_refusal_is_a_failed_delivery_not_an_exception() -> None:
    sink = FakeSink(refuse={TOPICS.dlq, TOPICS.results})
    outlet = KafkaOutlet(sink, TOPICS)  # type: ignore[arg-type]

    class RaisingSink(FakeSink):
        def produce(self, *args: object, **kwargs: object) -> None:
            raise KafkaException(KafkaError(KafkaError._FATAL))

    raising = KafkaOutlet(RaisingSink(), TOPICS)  # type: ignore[arg-type]
    for out in (outlet, raising):
        out.dead_letter(_job(b"{}"), InvalidPost("not_json", "x"))  # must not raise
        [done] = _drain(out)
        assert done.error and "KafkaException" in done.error


def test_the_real_sink_reports_what_the_producer_refuses() -> None:
    # a real librdkafka producer (it never reaches a broker: the refusal happens inside produce())
    sink = KafkaSink({"bootstrap.servers": "127.0.0.1:9", "message.max.bytes": 10_000})
    assert sink.max_message_bytes == 10_000
    reports: list[str | None] = []
    sink.produce("t", b"k", b"v" * 20_000, None, on_delivery=reports.append)
    assert len(reports) == 1 and reports[0] is not None and "MSG_SIZE_TOO_LARGE" in reports[0]
    sink.flush(0)


class BrokenOutlet:
    """Every dead letter raises: the workers must still not die."""

    def __init__(self) -> None:
        self.calls = 0
        self.published: list[str] = []

    def publish(self, job: Job, result: object) -> None:
        self.published.append(job.where.post_id or "")

    def dead_letter(self, job: Job, error: object) -> None:
        self.calls += 1
        raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))


def test_a_failing_dead_letter_never_ends_the_prep_thread() -> None:
    from consumer.batcher import BatchLimits
    from consumer.metrics import ConsumerMetrics
    from tests.unit.consumer.test_workers import FakePredictor, Fetched

    outlet = BrokenOutlet()
    batches: queue.Queue = queue.Queue()
    metrics = ConsumerMetrics()
    limits = BatchLimits(max_size=4, max_wait_s=1e9, max_tokens=10_000, max_images=8)
    predictor = FakePredictor("v1")
    prep = PrepWorker(lambda: predictor, limits, outlet, batches, clock=lambda: 0.0, metrics=metrics)  # type: ignore[arg-type]
    model = ModelWorker(batches, outlet, clock=lambda: 0.0, metrics=metrics)  # type: ignore[arg-type]
    image_only = _job(b"x" * 999_800)
    image_only.post = Post(post_id="k1", image_url="http://x/a.png")
    image_only.fetch = Fetched("failed", None, "http_500")
    text = Job(Where("posts", 0, 100, "p2"), b"p2", b"{}", consumed_at=0.0)
    text.post = Post(post_id="p2", text="after it")
    prep.start()
    model.start()
    prep.inbox.put(image_only)
    prep.inbox.put(text)
    prep.close(timeout_s=5)
    model.join(5)
    assert outlet.calls == 1  # the image-only post's dead letter was tried once, and raised
    assert outlet.published == ["p2"]  # the thread went on to the next post


def test_image_only_post_near_the_limit_with_a_failed_image_is_a_reference_letter() -> None:
    from consumer.workers import _settle

    sink = FakeSink()
    outlet = KafkaOutlet(sink, TOPICS)  # type: ignore[arg-type]
    _settle(outlet, _job(b"{" * 999_900), ImageUnavailable("http_500", "x", stage="fetch"))
    [done] = _drain(outlet)
    assert done.error is None and done.reference and done.stage == "fetch"
