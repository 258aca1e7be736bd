"""Builds the consumer's parts from the settings, and starts and closes them in order.

Kept apart from the poll loop so `service.py` reads as the loop only. `assemble()` returns a typed `Parts`
that the service holds; it reaches the service only through the callbacks of `ServiceHooks` (health and
rebalance callbacks), and writes nothing back into it. Heavy imports (torch via the model, httpx via the
fetcher, redis via the cache) happen here, when a service runs, never at import.

    >>> parts = assemble(settings, metrics, clock=time.monotonic, hooks=service)
    >>> parts.start_workers(); ...; parts.stop_workers(timeout_s=10); parts.close()
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from consumer.batcher import BatchLimits
from consumer.cache import ResultCache
from consumer.cache_lookup import ResultLookup
from consumer.faults import FaultInjector
from consumer.kafka_sink import KafkaSink
from consumer.kafka_source import KafkaSource
from consumer.kafka_updates import UpdatesListener
from consumer.ledger import TopicPartition
from consumer.metrics import ConsumerMetrics
from consumer.model_manager import ModelManager
from consumer.outlet import CacheWriter, KafkaOutlet
from consumer.prep_pool import PrepPool, pool_from_settings
from consumer.workers import Batch, ModelWorker, PrepWorker
from events.kafka import common_config, consumer_config, ensure_topics, producer_config
from events.settings import MetricsSettings, Settings
from ops.health import HealthServer

if TYPE_CHECKING:
    from fetcher import BackgroundFetcher
    from model.predictor import Predictor

log = logging.getLogger(__name__)


class ServiceHooks(Protocol):
    """What the parts call back into the service: health answers and rebalance callbacks."""

    def alive(self) -> bool: ...
    def ready(self) -> bool: ...
    def on_assign(self, tps: list[TopicPartition]) -> None: ...
    def on_revoke(self, tps: list[TopicPartition]) -> None: ...
    def on_lost(self, tps: list[TopicPartition]) -> None: ...


class Assembler(Protocol):
    """Builds the parts a service runs on: `assemble` below, or another (tests) passed to ConsumerService."""

    def __call__(
        self, settings: Settings, metrics: ConsumerMetrics, *, clock: Callable[[], float], hooks: ServiceHooks
    ) -> Parts: ...


@dataclass
class Parts:
    source: KafkaSource
    sink: KafkaSink
    outlet: KafkaOutlet
    cache: ResultCache | None
    lookup: ResultLookup | None  # keys, signatures and checks over `cache`
    cache_writer: CacheWriter | None
    fetcher: BackgroundFetcher
    manager: ModelManager[Predictor]
    listener: UpdatesListener
    prep: PrepWorker
    model: ModelWorker
    batches: queue.Queue[Batch | None]
    health: HealthServer | None  # None when MODSTREAM_METRICS__PORT=0
    faults: FaultInjector
    source_started: bool = False
    pool: PrepPool | None = None  # image preparation processes; None = inline (MODSTREAM_PREP__WORKERS=0)

    @property
    def health_port(self) -> int | None:
        return self.health.port if self.health is not None else None

    def stages(self) -> dict[str, Callable[[], bool]]:
        """The pipeline threads whose death leaves posts unfinished (the supervisor watches these). The
        updates listener and the model manager are not here: without them the serving model keeps
        serving, and the manager still re-reads the registry on its own poll."""
        stages: dict[str, Callable[[], bool]] = {
            "prep": self.prep.alive,
            "model": self.model.alive,
            "fetch": self.fetcher.alive,
        }
        if self.cache_writer is not None:
            stages["cache-writer"] = self.cache_writer.alive
        if self.pool is not None:  # a dead worker is replaced; a pool that cannot replace one is dead
            stages["prep-pool"] = self.pool.alive
        return stages

    def start_workers(self) -> None:
        if self.pool is not None:
            self.pool.start()
        self.prep.start()
        self.model.start()
        self.source_started = True

    def stop_workers(self, timeout_s: float) -> None:
        """Finish queued posts: the prep worker flushes its batch and then stops the model worker. When the
        prep thread has died, the model worker is told to stop directly."""
        if not self.source_started:
            return
        if self.prep.alive():
            self.prep.close(timeout_s)
        else:
            with contextlib.suppress(queue.Full):
                self.batches.put(None, timeout=timeout_s)
        self.model.join(timeout_s)

    def close(self) -> None:
        for name, close in (
            ("source", self.source.close),
            ("sink", self.sink.close),
            ("fetcher", self.fetcher.close),
            ("prep pool", self.pool.close if self.pool is not None else None),
            ("cache writer", self.cache_writer.close if self.cache_writer else None),
            ("cache", self.cache.close if self.cache is not None else None),
            ("updates listener", self.listener.close),
            ("model manager", self.manager.close),
            ("health", self.health.close if self.health is not None else None),
        ):
            if close is None:
                continue
            try:
                close()
            except Exception:
                log.exception("closing the %s failed", name)


def health_server(
    settings: MetricsSettings, hooks: ServiceHooks, metrics: ConsumerMetrics
) -> HealthServer | None:
    """The health server the settings ask for: none for port 0, an OS-chosen port for the test-only flag."""
    if settings.port == 0 and not settings.test_only_ephemeral_port:
        log.info("metrics and health server off (port 0)")
        return None
    port = 0 if settings.test_only_ephemeral_port else settings.port
    return HealthServer(
        settings.host,
        port,
        metrics=metrics.render,
        alive=hooks.alive,
        ready=hooks.ready,
        max_connections=settings.max_connections,
        io_timeout_s=settings.io_timeout_s,
    )


def assemble(
    settings: Settings, metrics: ConsumerMetrics, *, clock: Callable[[], float], hooks: ServiceHooks
) -> Parts:
    from consumer.cache import make_cache
    from consumer.cache_codec import ResultCodec, signing_key_for
    from fetcher import BackgroundFetcher
    from model.predictor import Predictor
    from model.registry import ModelRegistry

    s = settings
    m = metrics
    # before anything starts: a shared cache without a signing key refuses to start (SigningKeyMissing)
    codec = ResultCodec(signing_key_for(s.redis)) if s.consumer.cache_enabled else None
    if s.kafka.create_topics:
        ensure_topics(s.kafka, [s.topics.posts, s.topics.results, s.topics.dlq, s.topics.model_updates])

    health = health_server(s.metrics, hooks, m)
    if health is not None:
        health.start()

    def on_cache_error(*_args: Any) -> None:
        m.cache_errors.inc()

    cache = (
        make_cache(s.redis, clock=time.monotonic, on_error=on_cache_error)
        if s.consumer.cache_enabled
        else None
    )
    cache_writer = CacheWriter(cache.set_many) if cache is not None else None
    lookup = (
        ResultLookup(
            cache,
            codec,
            prefix=s.redis.key_prefix,
            url_keyed_hosts=s.redis.url_keyed_hosts,
            on_rejected=lambda reason: m.cache_rejected.labels(reason=reason).inc(),
        )
        if cache is not None and codec is not None
        else None
    )
    fetcher = BackgroundFetcher(
        s.fetch, observe=lambda outcome, secs: m.fetch_seconds.labels(outcome).observe(secs)
    )
    sink = KafkaSink(producer_config(s.kafka))
    outlet = KafkaOutlet(
        sink,
        s.topics,
        cache_write=cache_writer.put if cache_writer else None,
        cache_entries=lookup.entries if lookup is not None else None,
    )

    def load(path: Path) -> Predictor:
        predictor = Predictor.load(path, device=s.device)
        predictor.on_image_forwards = m.image_forwards.inc  # its feature cache saves the rest
        return predictor

    def on_change(predictor: Predictor) -> None:
        m.set_model_version(predictor.version)
        m.model_loads.labels(outcome="loaded").inc()

    def on_refused(_version: str, _exc: BaseException) -> None:
        m.model_loads.labels(outcome="refused").inc()

    manager: ModelManager[Predictor] = ModelManager(
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

    faults = FaultInjector.from_env()
    batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
    pool = pool_from_settings(s.prep)
    prep = PrepWorker(
        lambda: manager.current,
        BatchLimits.from_settings(s.batch),
        outlet,
        batches,
        clock=clock,
        metrics=m,
        faults=faults,
        pool=pool,
    )
    model = ModelWorker(batches, outlet, clock=clock, metrics=m, faults=faults)
    source = KafkaSource(
        consumer_config(s.kafka, group_id=s.kafka.group_id),
        s.topics.posts,
        on_assign=hooks.on_assign,
        on_revoke=hooks.on_revoke,
        on_lost=hooks.on_lost,
    )
    return Parts(
        source=source,
        sink=sink,
        outlet=outlet,
        cache=cache,
        lookup=lookup,
        cache_writer=cache_writer,
        fetcher=fetcher,
        manager=manager,
        listener=listener,
        prep=prep,
        model=model,
        batches=batches,
        health=health,
        faults=faults,
        pool=pool,
    )
