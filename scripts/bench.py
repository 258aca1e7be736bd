"""`make bench`: throughput and latency of the serving path, seven scenarios measured in one run.

    python scripts/bench.py [--preset tiny|minilm] [--posts 400] [--cached-posts 3000]
                            [--image-delay-ms 20] [--out bench-results/bench.json]

One model config (random weights; `minilm` loads the offline pretrained text encoder), one machine, one
broker (the embedded tansu), images from a loopback HTTP server in a process of its own
(scripts/bench_images.py) that answers after --image-delay-ms (a stand-in for a CDN round trip; 0 = as
fast as loopback goes). Every post has text and an image, each under its own URL. Prints posts/s and
p50/p99 latency per scenario (for the streaming ones: result timestamp minus post timestamp on the broker,
posts produced as fast as the producer goes, so latency includes queueing) and the ratios c/b, c/e and
d/c; writes the same as JSON. Figures, not pass/fail: the machines are shared.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_images import bench_image
from scripts.bench_scenarios import BenchPost, forward, naive, offline, slow_host, stream, viral, viral_posts
from tests.services import run_broker, unique

TARGETS = {"c/e": 3.0, "c/b": 0.8, "d_posts_per_s": 2000.0}
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


def make_posts(host: str, n: int, prefix: str) -> list[BenchPost]:
    posts = []
    for i in range(n):
        text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8 + i % 24)) + f" #{prefix}{i}"
        posts.append(BenchPost(f"{prefix}{i}", text, f"http://{host}/{prefix}/{i}.jpg", bench_image(i)))
    return posts


def settings_for(bootstrap: str, registry: Path, host: str, *, cache: bool) -> Any:
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
        fetch={"allow_hosts": [host]},
        consumer={"cache_enabled": cache},
        metrics={"port": 0},
        device="cpu",
    )


def viral_runs(fresh: Any, posts: list[BenchPost], warm: list[BenchPost]) -> list[tuple[str, Any]]:
    """g: 80% of posts reuse 20 images with fresh text, with and without the image feature cache."""
    return [
        ("g_viral_features", lambda: viral(fresh(False), posts, feature_cache=True, warmup=warm)),
        ("g_viral_no_features", lambda: viral(fresh(False), posts, feature_cache=False, warmup=warm)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["tiny", "minilm"], default="tiny")
    parser.add_argument("--posts", type=int, default=400, help="posts per scenario (a, b, c, e)")
    parser.add_argument("--cached-posts", type=int, default=3000, help="posts of scenario d")
    parser.add_argument("--image-delay-ms", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument("--only", nargs="*", default=None, help="run only these scenarios (e.g. d_cached)")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))

    import torch

    from model.predictor import Predictor

    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        image_host(args.image_delay_ms) as host,
        run_broker() as broker,
    ):
        registry, version = build_model(args.preset, Path(tmp) / "registry")
        predictor = Predictor.load(registry.path(version), device="cpu")
        batch = settings_for(broker.bootstrap, Path(tmp) / "registry", host, cache=False).batch.max_size
        warm = make_posts(host, 16, "w")
        posts = make_posts(host, args.posts, "p")
        cached_posts = make_posts(host, args.cached_posts, "h")
        drip_posts = make_posts(host, args.posts, "drip")  # every image from the slow-drip route
        text_posts = make_posts(host, args.posts // 10, "t")
        registry_dir = Path(tmp) / "registry"

        def fresh(cache: bool) -> Any:  # new topics and group for each streaming scenario
            return settings_for(broker.bootstrap, registry_dir, host, cache=cache)

        runs = [
            ("a_forward", lambda: forward(predictor, posts, batch)),
            ("b_offline", lambda: offline(predictor, posts)),
            ("c_stream", lambda: stream(fresh(False), posts, cached=False, warmup=warm)),
            ("d_cached", lambda: stream(fresh(True), cached_posts, cached=True, warmup=warm)),
            ("e_naive", lambda: naive(fresh(False), predictor, posts, warm)),
            ("f_slow_host", lambda: slow_host(fresh(False), drip_posts, text_posts, warmup=warm)),
            *viral_runs(fresh, viral_posts(host, args.posts), warm),
        ]
        for name, run in runs:
            if args.only and name not in args.only:
                continue
            t0 = time.perf_counter()
            results[name] = run().summary()
            print(f"{name:10s} {results[name]}  ({time.perf_counter() - t0:.1f}s)", flush=True)

    rate = {k: v["posts_per_s"] for k, v in results.items()}
    pairs = {
        "c/b": ("c_stream", "b_offline"),
        "c/e": ("c_stream", "e_naive"),
        "d/c": ("d_cached", "c_stream"),
        "g_features/g_no_features": ("g_viral_features", "g_viral_no_features"),
    }
    ratios = {k: round(rate[a] / rate[b], 2) for k, (a, b) in pairs.items() if a in rate and b in rate}
    print(f"\n{'scenario':10s} {'posts/s':>9s} {'p50 ms':>9s} {'p99 ms':>9s}")
    for name, r in results.items():
        print(f"{name:10s} {r['posts_per_s']:9.1f} {r['p50_ms']:9.1f} {r['p99_ms']:9.1f}")
    print("ratios", ratios, " targets: c/e >= 3, c/b >= 0.8, d >= 2000 posts/s")
    report = {
        "config": {
            "preset": args.preset,
            "posts": args.posts,
            "cached_posts": args.cached_posts,
            "image_delay_ms": args.image_delay_ms,
            "batch_max_size": batch,
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
