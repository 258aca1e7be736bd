"""`make bench`: throughput and latency of the serving path, fifteen scenarios measured in one run.

    python scripts/bench.py [--preset tiny|minilm] [--posts 400] [--cached-posts 20000] [--cache-fill 3000]
                            [--noop-posts 20000] [--image-delay-ms 20] [--fetch-delay-ms 50] [--fetches 5000]
                            [--prep-workers N]
                            [--out bench-results/bench.json] [--only c_stream f_noop_text ...]

One model config (random weights; `minilm` loads the offline pretrained text encoder), one machine, one
broker (the embedded tansu), images from a loopback HTTP server in a process of its own
(scripts/bench_images.py: real photographs as JPEG, PNG and WebP at 500x500 and 1200x675) that answers
after --image-delay-ms (a stand-in for a CDN round trip; 0 = as fast as loopback goes), trusted as the
platform's CDN (fetch.trusted_hosts). Post texts are Davidson tweets (their real mix of lengths) when
the data set is there (/work/shared/data or ../shared/data relative to the repo), tweet-length synthetic
text otherwise (it says so). Prints posts/s and p50/p99 latency per scenario (for the streaming ones:
result timestamp minus post timestamp on the broker, posts produced as fast as the producer goes, so
latency includes queueing) and the ratios c/b, c/e, d/c and c/c_fixed_bound; writes the same as JSON.
Figures, not pass/fail: the machines are shared. Scenarios: scripts/bench_scenarios.py; the consumer
under test runs in a process of its own (scripts/bench_consumer.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_images import bench_image
from scripts.bench_scenarios import (
    BenchPost,
    fetch_only,
    forward,
    naive,
    offline,
    slow_host,
    stream,
    viral,
    viral_posts,
)
from tests.services import run_broker, unique

TARGETS = {
    "c/b": 0.9,
    "c/e": 5.0,
    "d_posts_per_s": 10_000.0,
    "f_posts_per_s": 10_000.0,
    "i_images_per_s": 1_000.0,
}
ROOT = Path(__file__).resolve().parents[1]
DAVIDSON = [ROOT.parent / "shared/data/davidson/train.csv", Path("/work/shared/data/davidson/train.csv")]
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "people",
    "talk",
    "about",
    "football",
    "and",
    "politics",
]


def build_model(preset: str, registry_dir: Path) -> tuple[Any, str]:
    import torch

    from model.checkpoint import save_checkpoint
    from model.config import ModelConfig
    from model.network import FusionClassifier
    from model.preprocess import TextEncoder
    from model.registry import ModelRegistry

    torch.manual_seed(0)
    config = ModelConfig.preset(preset)
    model = FusionClassifier(config, pretrained=preset == "minilm").eval()  # minilm: the local text weights
    text = TextEncoder.from_dir(config.tokenizer_source, config.max_length)
    registry = ModelRegistry(registry_dir)
    name = registry.new_version_name()
    version = registry.publish(
        lambda d: save_checkpoint(
            d, model, tokenizer_dir_or_textencoder=text, thresholds={}, version=name, metrics={}
        ),
        version=name,
    )
    return registry, version


@contextlib.contextmanager
def image_host(delay_ms: float) -> Iterator[str]:
    """scripts/bench_images.py in a child process; yields its host:port."""
    script = Path(__file__).with_name("bench_images.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def load_texts() -> list[str]:
    """The Davidson tweets when the data set is there, else synthetic tweet-length texts (said so)."""
    import csv

    for path in DAVIDSON:
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as f:
                texts = [row["tweet"] for row in csv.DictReader(f) if row.get("tweet")]
            print(f"texts: {len(texts)} Davidson tweets from {path}")
            return texts
    print("texts: Davidson data set not found; synthetic tweet-length texts (8-31 words)")
    return [" ".join(WORDS[(i + k) % len(WORDS)] for k in range(8 + i % 24)) for i in range(1000)]


def make_posts(host: str, n: int, prefix: str, texts: list[str]) -> list[BenchPost]:
    posts, start = [], zlib.crc32(prefix.encode())
    for i in range(n):
        text = f"{texts[(start + i) % len(texts)]} #{prefix}{i}"  # unique: no two posts share a cache key
        posts.append(BenchPost(f"{prefix}{i}", text, f"http://{host}/{prefix}/{i}.jpg", bench_image(i)))
    return posts


def prep_scenario() -> dict[str, Any]:
    """(h): image preparation alone, inline vs 1 worker vs every usable core (scripts/bench_prep.py)."""
    from scripts.bench_prep import scenario_h

    return scenario_h()


def settings_for(
    bootstrap: str,
    registry: Path,
    host: str,
    *,
    cache: bool,
    device: str = "cpu",
    prep_workers: int | None = None,
) -> Any:
    from events.settings import Settings

    suffix = unique("bench")
    return Settings(
        _env_file=None,
        kafka={
            "bootstrap_servers": bootstrap,
            "group_id": suffix,
            "session_timeout_ms": 6000,
            "topic_partitions": 3,
        },
        topics={
            "posts": f"posts-{suffix}",
            "results": f"results-{suffix}",
            "dlq": f"dlq-{suffix}",
            "model_updates": f"updates-{suffix}",
        },
        redis={
            "url": os.environ.get("MODSTREAM_BENCH_REDIS", "redis://127.0.0.1:6379/0"),
            "key_prefix": f"{suffix}:",
            "signing_key": os.environ.get("MODSTREAM_REDIS__SIGNING_KEY") or f"bench-{suffix}",
        },
        model={"registry": str(registry)},
        fetch={"allow_hosts": [host], "trusted_hosts": [host]},  # the platform's CDN
        consumer={"cache_enabled": cache},
        prep={"workers": prep_workers},  # None: the default for this machine's cores
        metrics={"port": 0},
        device=device,
    )


def fixed_bound(settings: Any) -> Any:
    """`settings` with the flow control of before issue 10: 1,024 in flight, a pause as soon as reached."""
    consumer = settings.consumer.model_copy(
        update={"min_in_flight": 1024, "max_in_flight": 1024, "pause_after_s": 0.0}
    )
    return settings.model_copy(update={"consumer": consumer})


def url_keyed(settings: Any) -> Any:
    """`settings` with its image host declared immutable: posts are looked up by URL before the fetch."""
    redis = settings.redis.model_copy(update={"url_keyed_hosts": list(settings.fetch.allow_hosts)})
    return settings.model_copy(update={"redis": redis})


def viral_runs(fresh: Any, posts: list[BenchPost], warm: list[BenchPost]) -> list[tuple[str, Any]]:
    """k: 80% of posts reuse 20 images with fresh text, with and without the image feature cache."""
    return [
        ("k_viral_features", lambda: viral(fresh(False), posts, feature_cache=True, warmup=warm)),
        ("k_viral_no_features", lambda: viral(fresh(False), posts, feature_cache=False, warmup=warm)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["tiny", "minilm", "base"], default="tiny")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (scripts/gpu_check.sh)")
    parser.add_argument("--posts", type=int, default=400, help="posts per scenario (a, b, c, e)")
    parser.add_argument("--cached-posts", type=int, default=20000, help="posts measured in scenario d")
    parser.add_argument(
        "--cache-fill", type=int, default=3000, help="distinct posts d caches first; the rest are reposts"
    )
    parser.add_argument("--noop-posts", type=int, default=20000, help="posts of scenario f")
    parser.add_argument("--image-delay-ms", type=float, default=20.0)
    parser.add_argument("--fetch-delay-ms", type=float, default=50.0, help="scenario i's image host delay")
    parser.add_argument("--fetches", type=int, default=5000, help="images fetched in scenario i")
    parser.add_argument(
        "--prep-workers", type=int, default=None, help="MODSTREAM_PREP__WORKERS of the streaming scenarios"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument("--only", nargs="*", default=None, help="run only these scenarios (e.g. d_cached)")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))

    import torch

    from model.predictor import Predictor

    texts = load_texts()
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        image_host(args.image_delay_ms) as host,
        image_host(args.fetch_delay_ms) as cdn,
        run_broker() as broker,
    ):
        registry, version = build_model(args.preset, Path(tmp) / "registry")
        predictor = Predictor.load(registry.path(version), device=args.device)
        batch = settings_for(broker.bootstrap, Path(tmp) / "registry", host, cache=False).batch.max_size
        warm = make_posts(host, 16, "w", texts)
        posts = make_posts(host, args.posts, "p", texts)
        cached_posts = make_posts(host, min(args.cache_fill, args.cached_posts), "h", texts)
        noop_posts = make_posts(host, args.noop_posts, "n", texts)
        drip_posts = make_posts(host, args.posts, "drip", texts)  # every image from the slow-drip route
        text_posts = make_posts(host, args.posts // 10, "t", texts)
        registry_dir = Path(tmp) / "registry"

        def fresh(cache: bool, image_host: str = host) -> Any:  # new topics and group for each scenario
            return settings_for(
                broker.bootstrap,
                registry_dir,
                image_host,
                cache=cache,
                device=args.device,
                prep_workers=args.prep_workers,
            )

        fetch_settings = fresh(False, cdn)
        urls = [f"http://{cdn}/i/{i}.jpg" for i in range(args.fetches)]
        runs: list[tuple[str, Callable[[], Any]]] = [
            ("a_forward", lambda: forward(predictor, posts, batch)),
            ("b_offline", lambda: offline(predictor, posts)),
            ("c_stream", lambda: stream(fresh(False), posts, cached=False, warmup=warm)),
            # c as flow control was before issue 10: a fixed bound of 1,024, paused as soon as reached
            (
                "c_fixed_bound",
                lambda: stream(
                    fixed_bound(fresh(False)), posts, cached=False, warmup=warm, name="c_fixed_bound"
                ),
            ),
            # d: the platform's CDN declared immutable (redis.url_keyed_hosts): hits are served at
            # intake, before any fetch; d_fetched: the default, content-keyed, each hit after its fetch
            (
                "d_cached",
                lambda: stream(
                    url_keyed(fresh(True)), cached_posts, cached=True, warmup=warm, reposts=args.cached_posts
                ),
            ),
            (
                "d_fetched",
                lambda: stream(
                    fresh(True),
                    cached_posts,
                    cached=True,
                    warmup=warm,
                    name="d_fetched",
                    reposts=args.cached_posts,
                ),
            ),
            ("e_naive", lambda: naive(fresh(False), predictor, posts, warm)),
            (
                "f_noop_text",
                lambda: stream(
                    fresh(False),
                    noop_posts,
                    cached=False,
                    warmup=warm,
                    name="f_noop_text",
                    noop_model=True,
                    text_only=True,
                ),
            ),
            (
                "g_noop_images",
                lambda: stream(
                    fresh(False), posts, cached=False, warmup=warm, name="g_noop_images", noop_model=True
                ),
            ),
            ("h_prep", prep_scenario),
            (
                "i_fetch",
                lambda: fetch_only(fetch_settings, urls, concurrency=fetch_settings.fetch.max_in_flight),
            ),
            ("j_slow_host", lambda: slow_host(fresh(False), drip_posts, text_posts, warmup=warm)),
            *viral_runs(fresh, viral_posts(host, args.posts), warm),
        ]
        for name, run in runs:
            if args.only and name not in args.only:
                continue
            t0 = time.perf_counter()
            outcome = run()
            if outcome is None:
                continue
            results[name] = outcome if isinstance(outcome, dict) else outcome.summary()
            print(f"{name:13s} {results[name]}  ({time.perf_counter() - t0:.1f}s)", flush=True)

    rate = {k: v["posts_per_s"] for k, v in results.items() if "posts_per_s" in v}
    pairs = {
        "c/b": ("c_stream", "b_offline"),
        "c/e": ("c_stream", "e_naive"),
        "d/c": ("d_cached", "c_stream"),
        "c/c_fixed_bound": ("c_stream", "c_fixed_bound"),
        "k_features/k_no_features": ("k_viral_features", "k_viral_no_features"),
    }
    ratios = {k: round(rate[a] / rate[b], 2) for k, (a, b) in pairs.items() if a in rate and b in rate}
    print(f"\n{'scenario':13s} {'posts/s':>9s} {'p50 ms':>9s} {'p99 ms':>9s}")
    for name, r in results.items():
        if "posts_per_s" in r:
            print(f"{name:13s} {r['posts_per_s']:9.1f} {r['p50_ms']:9.1f} {r['p99_ms']:9.1f}")
        else:
            print(f"{name:13s} {r}")
    print("ratios", ratios, " targets:", TARGETS, "(i's posts/s are images/s)")
    report = {
        "config": {
            "preset": args.preset,
            "device": args.device,
            "posts": args.posts,
            "cached_posts": args.cached_posts,
            "cache_fill": args.cache_fill,
            "noop_posts": args.noop_posts,
            "image_delay_ms": args.image_delay_ms,
            "fetch_delay_ms": args.fetch_delay_ms,
            "fetches": args.fetches,
            "texts": "davidson" if any(p.is_file() for p in DAVIDSON) else "synthetic",
            "batch_max_size": batch,
            "prep_workers": args.prep_workers,
            "torch_threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "machine": platform.platform(),
        },
        "scenarios": results,
        "ratios": ratios,
        "targets": TARGETS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
