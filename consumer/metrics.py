"""Prometheus metrics of the consumer, in a registry of its own (several services may share a process).

>>> metrics = ConsumerMetrics()
>>> metrics.consumed.inc()
>>> metrics.render()      # the /metrics body
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ConsumerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # CPU, memory, open files and start time of this process (process_*; empty off Linux).
        ProcessCollector(registry=r)
        self.consumed = Counter("modstream_consumed", "posts taken from the posts topic", registry=r)
        self.published = Counter(
            "modstream_published", "results acknowledged by the broker", ["cached"], registry=r
        )
        self.dead_letters = Counter(
            "modstream_dead_letters",
            "dead letters acknowledged by the broker",
            ["stage", "reason"],
            registry=r,
        )
        self.cache = Counter("modstream_cache_lookups", "result cache lookups", ["outcome"], registry=r)
        self.cache_errors = Counter("modstream_cache_errors", "result cache calls that failed", registry=r)
        self.cache_rejected = Counter(
            "modstream_cache_rejected",
            "cached values refused (a miss): unsigned, bad_signature, not_result, labels, mismatch",
            ["reason"],
            registry=r,
        )
        self.non_finite = Counter(
            "modstream_non_finite_predictions",
            "posts the model scored NaN or infinite: dead-lettered (stage model, reason non_finite)",
            registry=r,
        )
        self.image_forwards = Counter(
            "modstream_image_tower_forwards",
            "images run through the serving model's image tower (the rest came from its feature cache)",
            registry=r,
        )
        self.cache_lookup_seconds = Histogram(
            "modstream_cache_lookup_seconds",
            "one batched result cache lookup on the poll thread (bounded by MODSTREAM_REDIS__TIMEOUT_S)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "modstream_fetch_seconds", "image fetch time", ["outcome"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.image_status = Counter(
            "modstream_image_status", "image_status of scored posts", ["status"], registry=r
        )
        self.batch_size = Histogram(
            "modstream_batch_size", "posts per model batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.queue_wait = Histogram(
            "modstream_queue_wait_seconds",
            "time a post waited in the batcher",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "modstream_inference_seconds", "model time per batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.end_to_end = Histogram(
            "modstream_end_to_end_seconds",
            "from the post's broker timestamp to its acknowledged output",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("modstream_in_flight", "posts taken and not yet acknowledged", registry=r)
        self.in_flight_limit = Gauge(
            "modstream_in_flight_limit",
            "the adaptive in-flight bound: intake takes no more at it",
            registry=r,
        )
        self.awaiting_images = Gauge(
            "modstream_awaiting_images", "posts waiting for their image fetch (own budget)", registry=r
        )
        self.paused_partitions = Gauge(
            "modstream_paused_partitions", "partitions paused by backpressure", registry=r
        )
        self.pauses = Counter("modstream_pauses", "times backpressure paused the partitions", registry=r)
        self.holds = Counter(
            "modstream_intake_holds",
            "times intake found no room under the in-flight bounds and waited (a pause follows only when "
            "held consumer.pause_after_s)",
            registry=r,
        )
        self.lag = Gauge(
            "modstream_lag", "messages behind the high watermark", ["topic", "partition"], registry=r
        )
        self.model_version = Gauge(
            "modstream_model_version", "1 for the serving model version", ["version"], registry=r
        )
        self.model_loads = Counter(
            "modstream_model_loads", "model versions loaded or refused", ["outcome"], registry=r
        )
        self.commits = Counter("modstream_commits", "offset commits", ["outcome"], registry=r)
        self.delivery_retries = Counter("modstream_delivery_retries", "outputs published again", registry=r)

    def set_model_version(self, version: str) -> None:
        self.model_version.clear()
        self.model_version.labels(version=version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
