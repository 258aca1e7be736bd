"""`modstream dlq replay` with the real consumer in the loop: a letter that keeps failing is replayed a
bounded number of times (its count travels on each new dead letter), a full replay does not double the
DLQ, and a forged letter cannot steer a replay onto the feedback topic.

    post --consumer--> letter 0 --replay--> post (attempts=1) --consumer--> letter 1 --> ... letter 3: refused
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Producer

from events.dead_letter import dead_letter_headers
from events.kafka import ensure_topics, producer_config
from events.settings import Settings
from modstream.dlq import Filter, read_dead_letters, replay
from modstream.replay_chain import superseded_by
from modstream.topic_reader import TopicReader
from tests.integration.consumer.conftest import (
    OutputReader,
    TinyModels,
    create_topics,
    produce,
    publish_version,
    running_consumer,
)

BAD = b'{"post_id": "bad", "text": "unfinished'  # not JSON: the consumer dead-letters it every time


def _messages(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    with TopicReader(settings.kafka, topic) as reader:
        return [(m.key(), m.value()) for m in reader.messages(until_end=True)]


def test_replays_are_counted_and_refused_past_the_limit_and_forged_letters_go_nowhere(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    outputs_of: Callable[[Settings], OutputReader],
) -> None:
    settings = consumer_settings()
    create_topics(settings)
    ensure_topics(settings.kafka, [settings.topics.feedback])
    publish_version(settings, tiny_models, "a")
    # A forged letter on the posts DLQ that asks to be "replayed" onto the feedback topic.
    producer = Producer(producer_config(settings.kafka))
    forged = dead_letter_headers(
        stage="decode",
        error_type="forged",
        message="x",
        topic=settings.topics.feedback,
        partition=0,
        offset=0,
    )
    producer.produce(
        settings.topics.dlq, key=b"p1", value=b'{"post_id":"p1","labels":["NotHate"]}', headers=forged
    )
    assert producer.flush(30) == 0
    produce(settings, [("bad", BAD)])
    reader = outputs_of(settings)
    since: str | None = None
    seen: list[str] = []
    with running_consumer(settings):
        reader.wait_for(2, timeout_s=60)  # the forged letter and the consumer's first letter
        for attempt in range(1, 4):
            report = replay(
                settings,
                read_dead_letters(settings, settings.topics.dlq, since),
                Filter(stage="decode", error_type="not_json"),
                to_topic=None,
                dry_run=False,
            )
            assert (report.replayed, report.failed, report.refused) == (1, 0, 0)
            assert report.next_since is not None
            since = ",".join(f"{p}:{o}" for p, o in sorted(report.next_since.items()))
            letters = reader.wait_for(2 + attempt, timeout_s=60).dead
            seen.append(letters[-1].headers.get("replay.attempts", "-"))
            assert letters[-1].value == BAD and letters[-1].headers["stage"] == "decode"
        # The fourth time: the letter says it has failed after 3 replays, and it is refused.
        report = replay(
            settings,
            read_dead_letters(settings, settings.topics.dlq, since),
            Filter(stage="decode"),
            to_topic=None,
            dry_run=False,
        )
        assert (report.replayed, report.refused) == (0, 1)
        # Everything again from the start (no --since-offset): the three letters whose replay failed again
        # are skipped (the later letter of each holds the same bytes and names it), the last one is past
        # its limit, and the forged one is refused: nothing is sent, the DLQ does not double.
        dlq = settings.topics.dlq
        everything = replay(
            settings,
            read_dead_letters(settings, dlq, None),
            Filter(),
            to_topic=None,
            dry_run=False,
            chain=superseded_by(read_dead_letters(settings, dlq, None), dlq),
        )
        assert (everything.replayed, everything.superseded, everything.refused) == (0, 3, 2)
        assert _messages(settings, settings.topics.feedback) == []
        reader.drain(quiet_s=2.0)
    assert seen == ["1", "2", "3"]
    dead = reader.outputs.dead
    print(f"dead letters on the DLQ after 3 replays and 1 refusal: {len(dead)} (forged, original, 3 replays)")
    assert len(dead) == 5 and sum(d.value == BAD for d in dead) == 4
    # ... and sent only when the operator names the target explicitly.
    explicit = replay(
        settings,
        read_dead_letters(settings, settings.topics.dlq, None),
        Filter(error_type="forged"),
        to_topic=settings.topics.feedback,
        dry_run=False,
    )
    assert (explicit.replayed, explicit.refused) == (1, 0)
    assert _messages(settings, settings.topics.feedback) == [
        (b"p1", b'{"post_id":"p1","labels":["NotHate"]}')
    ]
