"""Sending feedback dead letters: acknowledged, retried a bounded number of times, or an outage."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from confluent_kafka import KafkaError, KafkaException

from events.dead_letter import parse_dead_letter_headers
from feedback.dead_letters import send_dead_letters
from feedback.ingest import DeadLetter
from feedback.kafka_io import DeliveryFailed
from tests.unit.feedback.test_ingest import Msg


class FakeSink:
    """Fails the first `failures` flushes (or sends, with `fail_send`), then acknowledges."""

    def __init__(self, failures: int, *, fail_send: bool = False) -> None:
        self.failures = failures
        self.fail_send = fail_send
        self.sent: list[tuple[str, bytes | str | None, bytes | None, dict[str, str]]] = []
        self.acked: list[bytes | None] = []
        self._pending: list[bytes | None] = []

    def send(
        self,
        topic: str,
        key: bytes | str | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        if self.fail_send and self.failures > 0:
            self.failures -= 1
            raise BufferError("queue full")
        self.sent.append((topic, key, value, parse_dead_letter_headers(list(headers or []))))
        self._pending.append(value)

    def flush(self, timeout_s: float = 30.0) -> None:
        pending, self._pending = self._pending, []
        if not self.fail_send and self.failures > 0:
            self.failures -= 1
            raise DeliveryFailed("1 message(s) still unacknowledged")
        self.acked.extend(pending)


LETTERS = [
    DeadLetter(Msg(b"[[[", off=4, part=1, k=b"k1"), "decode", "RecursionError", "maximum recursion depth"),
    DeadLetter(Msg(b"{}", off=5, part=1, k=b"k2"), "validate", "decided_at_out_of_range", "year 10000"),
]


def test_acknowledged_at_once_with_headers_naming_stage_and_source() -> None:
    sink, sleeps = FakeSink(0), []
    assert send_dead_letters(sink, "fb-dlq", LETTERS, sleep=sleeps.append)
    assert sleeps == []
    assert sink.acked == [b"[[[", b"{}"]  # the original bytes, unchanged
    topic, key, _, headers = sink.sent[0]
    assert (topic, key) == ("fb-dlq", b"k1")
    assert headers["stage"] == "decode" and headers["error.type"] == "RecursionError"
    assert (headers["source.topic"], headers["source.partition"], headers["source.offset"]) == (
        "feedback",
        "1",
        "4",
    )


@pytest.mark.parametrize("fail_send", [False, True])
def test_retried_with_backoff_until_acknowledged(fail_send: bool) -> None:
    sink, sleeps = FakeSink(2, fail_send=fail_send), []
    assert send_dead_letters(sink, "fb-dlq", LETTERS, sleep=sleeps.append, attempts=3, backoff_s=1.0)
    assert sleeps == [1.0, 2.0]
    assert set(sink.acked) == {b"[[[", b"{}"}


def test_an_unreachable_topic_is_an_outage_after_bounded_attempts(caplog: pytest.LogCaptureFixture) -> None:
    sink, sleeps = FakeSink(10), []
    with caplog.at_level(logging.ERROR):
        assert not send_dead_letters(sink, "fb-dlq", LETTERS, sleep=sleeps.append, attempts=3, backoff_s=0.5)
    assert sleeps == [0.5, 1.0]  # three attempts, two waits: bounded
    assert sink.acked == []
    assert "OUTAGE" in caplog.text and "WITHOUT committing" in caplog.text


def test_kafka_exception_from_send_is_retried_not_raised() -> None:
    class Raising(FakeSink):
        def send(self, *args: object, **kwargs: object) -> None:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    assert not send_dead_letters(Raising(0), "fb-dlq", LETTERS, sleep=lambda s: None, attempts=2)


def test_nothing_to_send_needs_no_broker() -> None:
    sink = FakeSink(10)
    assert send_dead_letters(sink, "fb-dlq", [], sleep=lambda s: None)
    assert sink.sent == []


class ReplayedMsg(Msg):
    """A feedback event that `modstream dlq replay` re-published: it carries the replay history."""

    def headers(self) -> list[tuple[str, bytes | None]]:
        return [
            ("modstream.stage", b"forged"),  # not carried: the new letter says its own stage
            ("modstream.replay.attempts", b"2"),
            ("modstream.replayed_from", b"fb-dlq:0:7"),
        ]


def test_a_replayed_event_that_fails_again_keeps_its_replay_count() -> None:
    sink = FakeSink(0)
    letter = DeadLetter(ReplayedMsg(b"{", off=9, k=b"k"), "decode", "not_json", "unfinished")
    assert send_dead_letters(sink, "fb-dlq", [letter, LETTERS[0]], sleep=lambda _s: None)
    replayed, plain = sink.sent[0][3], sink.sent[1][3]
    assert replayed["replay.attempts"] == "2" and replayed["replayed_from"] == "fb-dlq:0:7"
    assert replayed["stage"] == "decode" and replayed["source.offset"] == "9"
    assert "replay.attempts" not in plain
