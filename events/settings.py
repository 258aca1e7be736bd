"""Settings for every modstream process: one frozen object, read once from the environment or `.env`.

Environment names are `MODSTREAM_<SECTION>__<FIELD>`, e.g. `MODSTREAM_KAFKA__BOOTSTRAP_SERVERS`.

    >>> settings = Settings()             # environment + .env
    >>> settings.batch.max_size
    32
    >>> log.info("settings %s", settings.redacted())   # secrets never reach a log

Each section belongs to one part of the system; add fields to the section that owns them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = Field("localhost:9092", description="Kafka broker list, host:port[,host:port]")
    group_id: str = Field("modstream", description="consumer group of the consumer service")
    trainer_group_id: str = Field("modstream-trainer", description="consumer group of the trainer")
    client_id: str = Field("modstream", description="client.id reported to the broker")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = Field(None, description="CA bundle file for SSL")
    session_timeout_ms: int = Field(10_000, gt=0, description="consumer group session timeout")
    max_poll_interval_ms: int = Field(300_000, gt=0, description="librdkafka max.poll.interval.ms")
    topic_partitions: int = Field(6, gt=0, description="partitions for topics modstream creates")
    replication_factor: int = Field(1, gt=0, description="replication for topics modstream creates")
    create_topics: bool = Field(True, description="create missing topics at start")
    connect_timeout_s: float = Field(
        5.0, gt=0, description="how long a command waits at start for the broker to answer; then exit 3"
    )
    # lz4 by default: the cheapest codec in CPU per byte that still compresses JSON well, and one every
    # librdkafka and Java client reads; a reader without lz4 (aiokafka without its extra) needs `none`.
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "lz4", description="codec of what modstream produces (results, dead letters, feedback, updates)"
    )
    extra: dict[str, str] = Field(
        default_factory=dict, description="extra librdkafka properties passed through as they are"
    )


class TopicSettings(_Section):
    posts: str = "posts"
    results: str = "moderation-results"
    dlq: str = "posts-dlq"
    feedback: str = "moderation-feedback"
    feedback_dlq: str = "moderation-feedback-dlq"
    model_updates: str = "model-updates"


class RedisSettings(_Section):
    url: str = Field("redis://localhost:6379/0", description="result cache; memory:// = in-process LRU")
    ttl_s: int = Field(7 * 24 * 3600, gt=0, description="lifetime of a cached result")
    key_prefix: str = Field("modstream:result:", description="namespace of cache keys")
    timeout_s: float = Field(
        0.5, gt=0, description="total deadline of each cache call (lookup or write), however Redis answers"
    )
    retry_after_s: float = Field(5.0, gt=0, description="after a failure, skip the cache this long")
    memory_max_items: int = Field(100_000, gt=0, description="capacity of the memory:// cache")
    signing_key: SecretStr | None = Field(
        None,
        description="HMAC key that signs cached results (a value that fails is a miss); required for "
        "redis:// and rediss:// URLs, memory:// needs none",
    )
    password: SecretStr | None = Field(
        None, description="Redis AUTH password (instead of one in the URL); use rediss:// for TLS"
    )
    url_keyed_hosts: list[str] = Field(
        default_factory=list,
        description="opt-in: image hosts whose URLs never change content (content-hashed CDN paths); "
        "their posts are looked up by URL before the fetch. Wrong for any host that lets a picture change",
    )


class ModelSettings(_Section):
    registry: Path = Field(Path("./models"), description="directory of model versions")
    poll_interval_s: float = Field(
        30.0, gt=0, description="how often a consumer re-reads the registry's current pointer"
    )


class FetchSettings(_Section):
    allow_hosts: list[str] = Field(
        default_factory=list, description="host or host:port exempt from the private-address block"
    )
    connect_timeout_s: float = Field(2.0, gt=0)
    read_timeout_s: float = Field(5.0, gt=0)
    total_timeout_s: float = Field(10.0, gt=0, description="deadline for one image, redirects included")
    max_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest image body accepted")
    max_redirects: int = Field(3, ge=0)
    retries: int = Field(2, ge=0, description="retries of transient failures (5xx, timeouts, resets)")
    concurrency: int = Field(64, gt=0, description="images fetched at once, in all")
    per_host_concurrency: int = Field(
        8, gt=0, description="images fetched at once from one registrable domain, and from one address"
    )
    max_waiters_per_host: int = Field(
        32, ge=0, description="fetches that may wait for a busy host's slot; beyond: host_busy at once"
    )
    slot_wait_s: float = Field(
        5.0,
        gt=0,
        description="longest wait for a fetch slot (not counted in total_timeout_s); then host_busy",
    )
    trusted_hosts: list[str] = Field(
        default_factory=list,
        description="the platform's image hosts (host or host:port): own pool, no waiter cap, SSRF-checked",
    )
    trusted_concurrency: int = Field(256, gt=0, description="connections to the trusted hosts, in all")
    trusted_http2: bool = Field(
        True,
        description="HTTP/2 to the trusted hosts where TLS offers it (one fetch at a time per connection)",
    )
    max_in_flight: int = Field(
        512,
        gt=0,
        description="posts waiting for their image (apart from consumer.max_in_flight); full: pause",
    )
    user_agent: str = "modstream-image-fetcher/0.1"
    backoff_s: float = Field(
        0.2, gt=0, description="first retry waits up to this; doubles per retry, jittered"
    )
    backoff_max_s: float = Field(2.0, gt=0, description="longest wait between two retries")


class BatchSettings(_Section):
    max_size: int = Field(32, gt=0, description="posts per model batch")
    max_wait_ms: float = Field(20.0, ge=0, description="longest wait after a batch's first post")
    max_tokens: int = Field(8192, gt=0, description="token budget of one batch (padded length x posts)")
    max_images: int = Field(64, gt=0, description="image budget of one batch")


class PrepSettings(_Section):
    """Image preparation (decode, resize, crop to uint8) in worker processes: consumer.prep_pool."""

    workers: int | None = Field(
        None,
        ge=0,
        description="prep worker processes; unset = the cores the model does not need (usable cores - 1), "
        "or 0 below 4 usable cores; 0 = decode inline on the prep thread",
    )
    worker_memory_mb: int = Field(
        1024,
        gt=0,
        description="address space (RLIMIT_AS) a prep worker may add to its start-up footprint; an image "
        "needing more fails alone (image_status failed) and the worker is replaced",
    )
    task_timeout_s: float = Field(
        10.0, gt=0, description="longest decode of one image; past it the worker is killed and replaced"
    )


class ConsumerSettings(_Section):
    max_in_flight: int = Field(1024, gt=0, description="ceiling of the adaptive in-flight bound (posts)")
    min_in_flight: int = Field(128, gt=0, description="floor of the adaptive in-flight bound (capped at max)")
    target_latency_s: float = Field(
        1.0, gt=0, description="in-flight bound = measured posts/s x this (Little's law), within min..max"
    )
    resume_below: float = Field(0.5, gt=0, lt=1, description="resume when in flight < this x max_in_flight")
    pause_after_s: float = Field(
        1.0,
        ge=0,
        description="at the in-flight bound intake waits; held this long, the partitions pause (a pause "
        "drops librdkafka's prefetched messages, so it is kept for a stuck pipeline)",
    )
    poll_batch: int = Field(256, gt=0, description="messages per consume() call")
    poll_timeout_s: float = Field(0.1, gt=0)
    drain_grace_s: float = Field(30.0, gt=0, description="SIGTERM: time to finish in-flight posts")
    commit_interval_s: float = Field(1.0, gt=0, description="how often the offset watermark is committed")
    cache_enabled: bool = True
    max_in_flight_age_s: float = Field(
        300.0, gt=0, description="/healthz fails (and the consumer exits) when a post is in flight this long"
    )


class TrainerSettings(_Section):
    data_dir: Path = Field(Path("./data/trainer"), description="durable dataset store of feedback")
    retrain_min_examples: int = Field(200, gt=0, description="retrain after this many new examples")
    retrain_interval_s: float = Field(3600.0, gt=0, description="or after this long with new examples")
    preset: Literal["tiny", "minilm", "base"] = "minilm"
    promote_metric: str = Field("macro_f1", description="metric a candidate must beat to be promoted")
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 13
    eval_set: Path | None = Field(
        None,
        description="trusted evaluation set (MMHS150K dir, CSV, JSONL): never trained on; gates promotion",
    )
    eval_set_format: Literal["mmhs150k", "csv", "jsonl"] | None = Field(
        None, description="default: from the path"
    )
    eval_min_gain: float = Field(
        0.01, ge=0, description="a candidate must beat the serving model on the eval set by more than this"
    )
    eval_min_examples: int = Field(100, gt=0, description="an eval set smaller than this promotes nothing")
    allow_label_change: bool = Field(False, description="promote a candidate whose label set differs by name")
    max_labels: int = Field(64, ge=2, description="data with more labels than this is refused")
    promote_lock_timeout_s: float = Field(
        600.0, gt=0, description="longest wait for the registry's promotion lock"
    )


class FeedbackSettings(_Section):
    """The feedback service's trust rules (README: "The feedback trust model")."""

    verify_content: bool = Field(
        True,
        description="feedback must name a scored post_id and hash to its content_id; off = trusted source",
    )
    require_moderator: bool = Field(True, description="feedback without moderator_id is dead-lettered")
    scored_max_posts: int = Field(1_000_000, gt=0, description="scored results remembered (oldest dropped)")
    scored_max_age_s: float = Field(
        7 * 86_400.0, gt=0, description="scored results older than this are dropped"
    )
    hold_max: int = Field(10_000, gt=0, description="feedback held waiting for its result, at most")
    hold_max_s: float = Field(300.0, gt=0, description="held longer than this: dead letter not_scored")
    moderator_max_share: float = Field(
        0.25, gt=0, le=1, description="one moderator's largest share of the new examples in a retrain"
    )
    quality_window_s: float = Field(3600.0, gt=0, description="sliding window of live precision/recall")
    quality_max_judged: int = Field(100_000, gt=0, description="judged posts kept in that window, at most")
    metrics_host: str = Field(
        "127.0.0.1", description="address of the feedback service's /metrics, /healthz (loopback by default)"
    )
    metrics_port: int = Field(9109, ge=0, lt=65536, description="its port; 0 = off")


class MetricsSettings(_Section):
    host: str = Field("127.0.0.1", description="address the health server binds (0.0.0.0 in a container)")
    port: int = Field(9108, ge=0, lt=65536, description="Prometheus /metrics, /healthz, /readyz; 0 = off")
    max_connections: int = Field(32, gt=0, description="open connections at most; the oldest idle one yields")
    io_timeout_s: float = Field(2.0, gt=0, description="a connection's whole time to ask and be answered")
    test_only_ephemeral_port: bool = Field(
        False, description="tests only: bind a free port chosen by the OS instead of `port` (it is logged)"
    )


class ReviewSettings(_Section):
    """The moderators' review console (`modstream review`)."""

    users: dict[str, SecretStr] = Field(
        default_factory=dict, description="moderator_id -> password (HTTP basic auth); JSON object"
    )
    host: str = Field("127.0.0.1", description="address the console listens on")
    port: int = Field(8088, ge=0, lt=65536, description="port the console listens on; 0 = any free port")
    group_id: str = Field("modstream-review", description="group.id given to librdkafka; never joined")
    max_cards: int = Field(2_000, gt=0, description="joined cards kept in memory (oldest dropped)")
    max_unjoined: int = Field(2_000, gt=0, description="posts, and results, each kept waiting for the other")
    page_max_cards: int = Field(300, gt=0, description="cards one snapshot sends; the page keeps as many")
    push_interval_ms: int = Field(250, gt=0, description="how often new cards are pushed to each page")
    push_max_cards: int = Field(100, gt=0, description="cards one push may carry; the rest wait or drop")
    thumb_max_px: int = Field(320, ge=32, le=1024, description="longest side of a re-encoded thumbnail")
    thumb_cache_bytes: int = Field(32 * 1024 * 1024, gt=0, description="memory for cached thumbnails")
    max_source_pixels: int = Field(40_000_000, gt=0, description="larger images are refused, not decoded")
    ack_timeout_s: float = Field(10.0, gt=0, description="deadline for the broker to acknowledge a decision")
    max_connections: int = Field(200, gt=0, description="concurrent HTTP connections the server accepts")


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(False, description="one JSON object per log line")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODSTREAM_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    redis: RedisSettings = RedisSettings()
    model: ModelSettings = ModelSettings()
    fetch: FetchSettings = FetchSettings()
    batch: BatchSettings = BatchSettings()
    prep: PrepSettings = PrepSettings()
    consumer: ConsumerSettings = ConsumerSettings()
    trainer: TrainerSettings = TrainerSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    metrics: MetricsSettings = MetricsSettings()
    review: ReviewSettings = ReviewSettings()
    log: LogSettings = LogSettings()
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict fit for a log line: SecretStr masked, URL passwords removed."""
        data: dict[str, Any] = json.loads(self.model_dump_json())  # SecretStr dumps as '**********'
        data["redis"]["url"] = redact_url(self.redis.url)
        return data


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
