"""The scenarios of `make bench`, each returning a `Measurement`. See scripts/bench.py.

(a) forward: Predictor.predict_prepared on preprocessed posts, in batches of the consumer's max size.
(b) offline: decode + preprocess + forward, one post after another, images already in memory.
(c) stream: `ConsumerService` end to end through the broker, images from the loopback server, cache off.
(d) cached: the same, every post a cache hit (the cache warmed by an unmeasured pass first).
(e) naive: a batch-1 consumer: poll one post, fetch its image synchronously, score, publish, wait for the
    acknowledgement, commit, next.
(f) no-op text: (c) with text-only posts and the network replaced by a no-op after the warm-up: the
    pipeline's own cost per post (decode, tokenise, batch, encode, produce, commit bookkeeping).
(g) no-op images: the same with images: fetch + decode + the pipeline, no model.
(h) image preparation, inline vs 1 worker vs all: scripts/bench_prep.py's scenario_h.
(i) fetch only: `BackgroundFetcher` alone, every image from one trusted host (the platform's CDN)
    answering after a delay; images/s of one process.
(j) slow host: (c) with every image on one slow-drip host and one text-only post after every ten image
    posts: the text-only posts' latency, every post's outcome (fetch fairness, fetcher/limits.py).

Each scenario is one function: a new one is a function here and one line in scripts/bench.py's list.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer

from consumer.cache import make_cache
from consumer.cache_keys import cache_key, url_key
from events.content import image_digest
from events.kafka import consumer_config, ensure_topics, producer_config
from events.schemas import LabelScore, Result, decode_post, encode
from events.settings import Settings
from scripts.bench_consumer import ConsumerProcess, ResultWatcher
from scripts.bench_images import bench_image


@dataclass
class Measurement:
    name: str
    posts: int
    seconds: float
    latencies_s: list[float]
    outcomes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_s)
        return {
            "posts": self.posts,
            "seconds": round(self.seconds, 3),
            "posts_per_s": round(self.posts / self.seconds, 1),
            "p50_ms": round(1000 * _percentile(lat, 0.50), 1),
            "p99_ms": round(1000 * _percentile(lat, 0.99), 1),
        } | ({"outcomes": self.outcomes} if self.outcomes else {})


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass(frozen=True)
class BenchPost:
    post_id: str
    text: str
    image_url: str
    image: bytes

    def raw(self, post_id: str | None = None, *, text_only: bool = False) -> bytes:
        body = {"post_id": post_id or self.post_id, "text": self.text}
        if not text_only:
            body["image_url"] = self.image_url
        return json.dumps(body).encode()


def forward(predictor: Any, posts: Sequence[BenchPost], batch_size: int) -> Measurement:
    prepared = [predictor.prepare(p.text, p.image) for p in posts]
    predictor.predict_prepared(prepared[:batch_size])  # warm-up
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(0, len(prepared), batch_size):
        t0 = time.perf_counter()
        chunk = prepared[i : i + batch_size]
        predictor.predict_prepared(chunk)
        latencies += [time.perf_counter() - t0] * len(chunk)
    return Measurement("a_forward", len(posts), time.perf_counter() - start, latencies)


def offline(predictor: Any, posts: Sequence[BenchPost]) -> Measurement:
    predictor.predict([(posts[0].text, posts[0].image)])  # warm-up
    latencies: list[float] = []
    start = time.perf_counter()
    for p in posts:
        t0 = time.perf_counter()
        predictor.predict_prepared([predictor.prepare(p.text, p.image)])
        latencies.append(time.perf_counter() - t0)
    return Measurement("b_offline", len(posts), time.perf_counter() - start, latencies)


def _produce(settings: Settings, items: Sequence[tuple[str, bytes]]) -> dict[str, int]:
    """Produce, wait for every acknowledgement; returns post_id -> produce timestamp (ms)."""
    producer = Producer(producer_config(settings.kafka))
    stamps: dict[str, int] = {}

    def report(err: Any, msg: Any) -> None:
        if err is None:
            stamps[msg.key().decode()] = msg.timestamp()[1]

    for key, value in items:
        producer.produce(settings.topics.posts, key=key, value=value, on_delivery=report)
        producer.poll(0)
    producer.flush(60)
    return stamps


def _measure_stream(
    name: str, settings: Settings, watcher: ResultWatcher, items: Sequence[tuple[str, bytes]]
) -> Measurement:
    sent = _produce(settings, items)
    keys = [k for k, _ in items]
    got = watcher.wait_for(keys, timeout_s=600)
    start_ms = min(sent.values())
    seconds = (max(got.values()) - start_ms) / 1000
    return Measurement(name, len(keys), seconds, [(got[k] - sent[k]) / 1000 for k in keys])


def stream(
    settings: Settings,
    posts: Sequence[BenchPost],
    *,
    cached: bool,
    warmup: Sequence[BenchPost],
    name: str | None = None,
    noop_model: bool = False,
    text_only: bool = False,
    reposts: int = 0,
) -> Measurement:
    """Runs a consumer in a process of its own (scripts/bench_consumer.py); warm-up posts go first so
    that the group join and the first model call are not measured; for `cached`, an unmeasured pass
    fills the cache first. `noop_model` swaps the serving network for `NoOpNetwork` after the warm-up;
    `text_only` drops the image URLs. `reposts` (cached only): measure that many posts, reposts of the
    filled ones in turn under new post ids, so a steady stream of hits costs one fill of `posts`."""
    with _running(settings) as (consumer, watcher):
        tag = "hit" if cached else "miss"
        _measure_stream(
            "warmup",
            settings,
            watcher,
            [(f"w-{tag}-{p.post_id}", p.raw(f"w-{tag}-{p.post_id}")) for p in warmup],
        )
        if noop_model:
            consumer.command("noop")
        if cached:  # fill the cache with the very posts measured next (content keyed, new post ids)
            _measure_stream(
                "fill", settings, watcher, [(f"f-{p.post_id}", p.raw(f"f-{p.post_id}")) for p in posts]
            )
            _wait_until_cached(settings, consumer.command("version"), posts)
        name = name or ("d_cached" if cached else "c_stream")
        keyed: list[tuple[str, bytes]] = []
        for i in range(max(reposts, len(posts))):  # past len(posts): the same posts again, new post ids
            p = posts[i % len(posts)]
            keyed.append((f"{tag}{i}-{p.post_id}", p.raw(f"{tag}{i}-{p.post_id}", text_only=text_only)))
        measured = _measure_stream(name, settings, watcher, keyed)
        for key, _ in keyed:  # what the results say: image fetched or not, served from the cache or not
            status, was_cached = watcher.outcome(key)
            tally = f"image_{status}" + ("_cached" if was_cached else "")
            measured.outcomes[tally] = measured.outcomes.get(tally, 0) + 1
        return measured


def slow_host(
    settings: Settings,
    image_posts: Sequence[BenchPost],
    text_posts: Sequence[BenchPost],
    *,
    warmup: Sequence[BenchPost],
) -> Measurement:
    """Every image post's URL drips (scripts/bench_images.py /drip/); text-only posts are interleaved.
    The rate and span cover every post; the latencies are the text-only posts' alone."""
    items: list[tuple[str, bytes]] = []
    text_keys: list[str] = []
    texts = iter(text_posts)
    for i, p in enumerate(image_posts):
        items.append((f"s-{p.post_id}", p.raw(f"s-{p.post_id}")))
        text = next(texts, None) if i % 10 == 9 else None
        if text is not None:
            key = f"s-{text.post_id}"
            text_keys.append(key)
            items.append((key, json.dumps({"post_id": key, "text": text.text}).encode()))
    with _running(settings) as (_, watcher):
        _measure_stream(
            "warmup", settings, watcher, [(f"sw-{p.post_id}", p.raw(f"sw-{p.post_id}")) for p in warmup]
        )
        everything = _measure_stream("j_slow_host", settings, watcher, items)
        by_key = dict(zip([k for k, _ in items], everything.latencies_s, strict=True))
        measured = Measurement(
            "j_slow_host", everything.posts, everything.seconds, [by_key[k] for k in text_keys]
        )
        for key, _ in items:
            tally = ("text_" if key in text_keys else "image_post_") + watcher.outcome(key)[0]
            measured.outcomes[tally] = measured.outcomes.get(tally, 0) + 1
        return measured


@contextlib.contextmanager
def _running(settings: Settings) -> Iterator[tuple[ConsumerProcess, ResultWatcher]]:
    """A consumer in a process of its own (scripts/bench_consumer.py) and a watcher of its results, both
    stopped when the block ends."""
    t = settings.topics
    ensure_topics(settings.kafka, [t.posts, t.results, t.dlq, t.model_updates])
    watcher = ResultWatcher(settings)
    try:
        with ConsumerProcess(settings) as consumer:
            yield consumer, watcher
    finally:
        watcher.close()


def _wait_until_cached(settings: Settings, version: str, posts: Sequence[BenchPost]) -> None:
    """Cache writes trail the results (a writer thread): wait until every measured post is a hit."""
    prefix = settings.redis.key_prefix
    keys = [cache_key(prefix, version, p.text, image_digest(p.image)) for p in posts]
    if settings.redis.url_keyed_hosts:  # the intake shortcut's keys too
        keys += [url_key(prefix, version, p.text, p.image_url) for p in posts]
    cache = make_cache(settings.redis)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(v is not None for v in cache.get_many(keys)):
                return
            time.sleep(0.05)
        missing = sum(v is None for v in cache.get_many(keys))
        raise TimeoutError(f"{missing} of {len(keys)} posts not in the cache after 60 s")
    finally:
        cache.close()


def naive(
    settings: Settings, predictor: Any, posts: Sequence[BenchPost], warmup: Sequence[BenchPost]
) -> Measurement:
    """The baseline: no batching, no concurrency, a synchronous fetch and a flush per post. Warm-up posts
    go first, so that the group join is not measured."""
    t = settings.topics
    ensure_topics(settings.kafka, [t.posts, t.results])
    consumer = Consumer(consumer_config(settings.kafka, group_id=f"{settings.kafka.group_id}-naive"))
    consumer.subscribe([t.posts])
    producer = Producer(producer_config(settings.kafka))
    http = httpx.Client(timeout=10)

    def handle(n: int, sent: dict[str, int]) -> tuple[list[float], list[float]]:
        latencies: list[float] = []
        done: list[float] = []
        while len(done) < n:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            post = decode_post(msg.value())
            image = http.get(post.image_url).content if post.image_url else None
            pred = predictor.predict([(post.text, image)])[0]
            result = Result(
                post_id=post.post_id,
                labels=[LabelScore(label=n, score=s) for n, s in pred.top],
                scores=pred.scores,
                flagged=pred.flagged,
                model_version=predictor.version,
                image_status="ok" if image else "absent",
            )
            producer.produce(t.results, key=post.post_id, value=encode(result))
            producer.flush(10)
            consumer.store_offsets(msg)
            consumer.commit(asynchronous=False)
            now_ms = time.time() * 1000
            if post.post_id in sent:
                latencies.append((now_ms - sent[post.post_id]) / 1000)
            done.append(now_ms)
        return latencies, done

    try:
        handle(
            len(warmup), _produce(settings, [(f"nw-{p.post_id}", p.raw(f"nw-{p.post_id}")) for p in warmup])
        )
        sent = _produce(settings, [(f"n-{p.post_id}", p.raw(f"n-{p.post_id}")) for p in posts])
        latencies, done = handle(len(posts), sent)
    finally:
        consumer.close()
        http.close()
    seconds = (max(done) - min(sent.values())) / 1000
    return Measurement("e_naive", len(posts), seconds, latencies)


def viral_posts(host: str, n: int, *, images: int = 20, reuse: float = 0.8) -> list[BenchPost]:
    """n posts with fresh text each: `reuse` of them show one of `images` pictures (a viral image reposted),
    the rest a picture of their own. Served by scripts/bench_images.py (bench_image(i) at /viral/i.jpg;
    its colours repeat every 256 indices, so the own pictures are drawn from the indices after the viral
    ones and repeat past 256 - images - 100 posts)."""
    out = []
    own = 0
    for i in range(n):
        if (i * 37) % 100 < reuse * 100:  # spread evenly through the stream
            index = 100 + i % images
        else:
            index = 100 + images + own % (156 - images)
            own += 1
        text = f"fresh caption {i} about the picture everyone shares"
        out.append(BenchPost(f"viral{i}", text, f"http://{host}/viral/{index}.jpg", bench_image(index)))
    return out


def viral(
    settings: Settings, posts: Sequence[BenchPost], *, feature_cache: bool, warmup: Sequence[BenchPost]
) -> Measurement:
    """(k): a stream where most posts reuse a few images with fresh text (`viral_posts`), through the
    ConsumerService (result cache off: fresh text is new content anyway), with or without the predictor's
    image feature cache. `outcomes["image_tower_forwards"]`: images that ran through the image tower."""
    # the image host plays the platform's own CDN (no per-host waiter cap): every image is fetched
    settings = settings.model_copy(
        update={"fetch": settings.fetch.model_copy(update={"trusted_hosts": settings.fetch.allow_hosts})}
    )
    with _running(settings) as (consumer, watcher):
        tag = "fc" if feature_cache else "nofc"
        _measure_stream(
            "warmup",
            settings,
            watcher,
            [(f"w-{tag}-{p.post_id}", p.raw(f"w-{tag}-{p.post_id}")) for p in warmup],
        )
        if not feature_cache:
            consumer.command("no-feature-cache")
        before = int(consumer.command("forwards"))
        name = "k_viral_features" if feature_cache else "k_viral_no_features"
        measured = _measure_stream(
            name, settings, watcher, [(f"{tag}-{p.post_id}", p.raw(f"{tag}-{p.post_id}")) for p in posts]
        )
        measured.outcomes["image_tower_forwards"] = int(consumer.command("forwards")) - before
        measured.outcomes["distinct_images"] = len({p.image_url for p in posts})
        for p in posts:
            status, _ = watcher.outcome(f"{tag}-{p.post_id}")
            measured.outcomes[f"image_{status}"] = measured.outcomes.get(f"image_{status}", 0) + 1
        return measured


def fetch_only(settings: Settings, urls: Sequence[str], *, concurrency: int) -> Measurement:
    """(i): `BackgroundFetcher` alone, `concurrency` fetches outstanding at a time (the consumer's image
    budget plays this part); warm-up fetches open the connections first. Latency: submit to result."""
    from fetcher import BackgroundFetcher

    with BackgroundFetcher(settings.fetch) as fetcher:
        for future in [fetcher.submit(u) for u in urls[:concurrency]]:
            future.result(60)
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        lock = threading.Lock()
        slots = threading.Semaphore(concurrency)
        finished = threading.Event()
        remaining = [len(urls)]

        def done(t0: float, future: Any) -> None:
            result = future.result()
            with lock:
                latencies.append(time.perf_counter() - t0)
                key = result.status if result.reason is None else f"{result.status}_{result.reason}"
                outcomes[key] = outcomes.get(key, 0) + 1
                remaining[0] -= 1
                if remaining[0] == 0:
                    finished.set()
            slots.release()

        start = time.perf_counter()
        for url in urls:
            slots.acquire()
            t0 = time.perf_counter()
            fetcher.submit(url).add_done_callback(functools.partial(done, t0))
        if not finished.wait(600):
            raise TimeoutError("fetches still running after 600 s")
        seconds = time.perf_counter() - start
    return Measurement("i_fetch", len(urls), seconds, latencies, outcomes)
