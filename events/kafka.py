"""Kafka client configuration and topic helpers shared by the consumer and the trainer.

The only module of `events` that imports confluent_kafka.

    >>> conf = consumer_config(settings.kafka, group_id=settings.kafka.group_id)
    >>> ensure_topics(settings.kafka, [settings.topics.posts, settings.topics.results])
    >>> probe_broker(settings.kafka)      # BrokerUnreachable after kafka.connect_timeout_s

Every client logs through Python logging (events/kafka_log.py), never straight to stderr.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from events.exits import BrokerUnreachable
from events.interrupts import deferred_sigint
from events.kafka_log import kafka_logger
from events.settings import KafkaSettings

log = logging.getLogger(__name__)

# The largest message our producers send (librdkafka's default, stated so it is a decision, not an
# accident). It is chosen with the decoder's limit (events.schemas.MAX_MESSAGE_BYTES, the same 1,000,000):
# a post the decoder accepts always has room for its result, and the dead letter of a post near or over
# the limit (original + headers > this) goes out as a reference letter (events/dead_letter.py). Kept under
# the broker's default max.message.bytes (1,048,588) so a batch of one such message is never refused.
PRODUCER_MAX_MESSAGE_BYTES = 1_000_000


def common_config(kafka: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": kafka.client_id,
        "security.protocol": kafka.security_protocol,
        "logger": kafka_logger(),
    }
    if kafka.sasl_mechanism:
        conf["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username:
        conf["sasl.username"] = kafka.sasl_username
    if kafka.sasl_password is not None:
        conf["sasl.password"] = kafka.sasl_password.get_secret_value()
    if kafka.ssl_ca_location:
        conf["ssl.ca.location"] = kafka.ssl_ca_location
    conf.update(kafka.extra)
    return conf


def consumer_config(kafka: KafkaSettings, *, group_id: str) -> dict[str, Any]:
    """A consumer that never commits on its own: offsets are stored and committed by the caller."""
    return (
        common_config(kafka)
        | {
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": kafka.session_timeout_ms,
            "max.poll.interval.ms": kafka.max_poll_interval_ms,
        }
        | dict(kafka.extra)
    )


def producer_config(kafka: KafkaSettings) -> dict[str, Any]:
    """An idempotent producer that waits for every in-sync replica."""
    return (
        common_config(kafka)
        | {
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": kafka.compression,
            "message.max.bytes": PRODUCER_MAX_MESSAGE_BYTES,
        }
        | dict(kafka.extra)
    )


def ensure_topics(
    kafka: KafkaSettings, names: Iterable[str], *, partitions: int | None = None, timeout_s: float = 30.0
) -> None:
    """Create the topics that do not exist yet; existing topics are left as they are. The listing waits
    at most kafka.connect_timeout_s (BrokerUnreachable), so a dead broker cannot hold a start for long."""
    admin = AdminClient(common_config(kafka))
    try:
        existing = set(admin.list_topics(timeout=min(timeout_s, kafka.connect_timeout_s)).topics)
    except KafkaException as exc:
        raise BrokerUnreachable(kafka.bootstrap_servers, kafka.connect_timeout_s, str(exc.args[0])) from exc
    wanted = [name for name in dict.fromkeys(names) if name not in existing]
    if not wanted:
        return
    new = [
        NewTopic(
            name,
            num_partitions=partitions or kafka.topic_partitions,
            replication_factor=kafka.replication_factor,
        )
        for name in wanted
    ]
    for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            log.info("created topic %s", name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def probe_broker(
    kafka: KafkaSettings,
    *,
    timeout_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the broker answers a metadata request; BrokerUnreachable after `timeout_s`
    (default kafka.connect_timeout_s). Asks in slices of at most 0.5 s, so a SIGINT (KeyboardInterrupt,
    raised between two slices: events/interrupts.py) is honoured within a second. The probe's own
    client logs nothing: its failure is the one line the caller reports."""
    timeout_s = kafka.connect_timeout_s if timeout_s is None else timeout_s
    with deferred_sigint() as interrupted:  # raised between the client's calls, never inside them
        admin = AdminClient(common_config(kafka) | {"log_level": 0})
        deadline = clock() + timeout_s
        detail = ""
        while True:
            interrupted()
            left = deadline - clock()
            if left <= 0:
                raise BrokerUnreachable(kafka.bootstrap_servers, timeout_s, detail)
            started = clock()
            try:
                admin.list_topics(timeout=min(0.5, left))
                return
            except KafkaException as exc:
                error = exc.args[0] if exc.args else exc
                detail = error.str() if isinstance(error, KafkaError) else str(error)
            # An all-brokers-down answer comes back at once: do not spin on it.
            time.sleep(max(0.0, min(deadline - clock(), 0.1 - (clock() - started))))
