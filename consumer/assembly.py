"""Builds the consumer's parts from the settings, and starts and closes them in order.

Kept apart from the poll loop so `service.py` reads as the loop only. Heavy imports (torch via the model,
httpx via the fetcher, redis via the cache) happen here, when a service runs, never at import.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consumer.batcher import BatchLimits
from consumer.kafka_sink import KafkaSink
from consumer.kafka_source import KafkaSource
from consumer.kafka_updates import UpdatesListener
from consumer.model_manager import ModelManager
from consumer.outlet import CacheWriter, KafkaOutlet
from consumer.workers import Batch, ModelWorker, PrepWorker
from events.kafka import common_config, consumer_config, ensure_topics, producer_config
from ops.health import HealthServer

if TYPE_CHECKING:
    from consumer.service import ConsumerService

log = logging.getLogger(__name__)


@dataclass
class Parts:
    source: KafkaSource
    sink: KafkaSink
    outlet: KafkaOutlet
    cache: Any  # consumer.cache.ResultCache | None
    cache_key: Callable[[str, str, str | None, str | None], str]
    cache_writer: CacheWriter | None
    fetcher: Any  # fetcher.BackgroundFetcher
    manager: ModelManager[Any]
    listener: UpdatesListener
    prep: PrepWorker
    model: ModelWorker
    health: HealthServer
    source_started: bool = False

    def start_workers(self) -> None:
        self.prep.start()
        self.model.start()
        self.source_started = True

    def stop_workers(self, timeout_s: float) -> None:
        """Finish queued posts: the prep worker flushes its batch and then stops the model worker."""
        if self.source_started:
            self.prep.close(timeout_s)
            self.model.join(timeout_s)

    def close(self) -> None:
        for name, close in (
            ("source", self.source.close),
            ("sink", self.sink.close),
            ("fetcher", self.fetcher.close),
            ("cache writer", self.cache_writer.close if self.cache_writer else None),
            ("cache", self.cache.close if self.cache is not None else None),
            ("updates listener", self.listener.close),
            ("model manager", self.manager.close),
            ("health", self.health.close),
        ):
            if close is None:
                continue
            try:
                close()
            except Exception:
                log.exception("closing the %s failed", name)


def assemble(service: ConsumerService) -> Parts:
    from consumer.cache import make_cache
    from consumer.cache_keys import cache_key
    from fetcher import BackgroundFetcher
    from model.predictor import Predictor
    from model.registry import ModelRegistry

    s = service.settings
    m = service.metrics
    if s.kafka.create_topics:
        ensure_topics(s.kafka, [s.topics.posts, s.topics.results, s.topics.dlq, s.topics.model_updates])

    health = HealthServer(
        s.metrics.host, s.metrics.port, metrics=m.render, alive=service.alive, ready=service.ready
    )
    health.start()
    service.health_port = health.port

    def on_cache_error(*_args: Any) -> None:
        m.cache_errors.inc()

    cache = (
        make_cache(s.redis, clock=time.monotonic, on_error=on_cache_error)
        if s.consumer.cache_enabled
        else None
    )
    cache_writer = CacheWriter(cache.set_many) if cache is not None else None
    fetcher = BackgroundFetcher(
        s.fetch, observe=lambda outcome, secs: m.fetch_seconds.labels(outcome).observe(secs)
    )
    sink = KafkaSink(producer_config(s.kafka))
    outlet = KafkaOutlet(
        sink,
        s.topics,
        cache_write=cache_writer.put if cache_writer else None,
        cache_key=lambda version, text, url: cache_key(s.redis.key_prefix, version, text, url),
    )

    def load(path: Path) -> Any:
        return Predictor.load(path, device=s.device)

    def on_change(predictor: Any) -> None:
        m.set_model_version(predictor.version)
        m.model_loads.labels(outcome="loaded").inc()

    def on_refused(_version: str, _exc: BaseException) -> None:
        m.model_loads.labels(outcome="refused").inc()

    manager: ModelManager[Any] = ModelManager(
        ModelRegistry(Path(s.model.registry)),
        load=load,
        poll_interval_s=s.model.poll_interval_s,
        on_change=on_change,
        on_refused=on_refused,
    )
    manager.start()
    listener = UpdatesListener(
        common_config(s.kafka), s.topics.model_updates, on_update=lambda _u: manager.wake()
    )
    listener.start()

    batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
    prep = PrepWorker(
        lambda: manager.current,
        BatchLimits.from_settings(s.batch),
        outlet,
        batches,
        clock=service.clock,
        metrics=m,
    )
    model = ModelWorker(batches, outlet, clock=service.clock, metrics=m)
    source = KafkaSource(
        consumer_config(s.kafka, group_id=s.kafka.group_id),
        s.topics.posts,
        on_assign=service.on_assign,
        on_revoke=service.on_revoke,
        on_lost=service.on_lost,
    )
    return Parts(
        source=source,
        sink=sink,
        outlet=outlet,
        cache=cache,
        cache_key=cache_key,
        cache_writer=cache_writer,
        fetcher=fetcher,
        manager=manager,
        listener=listener,
        prep=prep,
        model=model,
        health=health,
    )
