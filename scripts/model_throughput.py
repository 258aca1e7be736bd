"""Parameter counts and forward throughput of the `base` architecture (ResNet-18 + bert-base-uncased).

Random weights (pretrained=False): the shapes and the arithmetic are those of the production model,
with no download. Each post is ~40 tokens of text plus one 224x224 image; for each batch size the
model runs a warm-up pass, then `--repeats` timed passes (time.perf_counter) under inference_mode.

    .venv/bin/python scripts/model_throughput.py --out bench-results/model_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import ModelConfig
from model.network import FusionClassifier
from model.preprocess import PreparedPost, collate

CLS, SEP = 101, 102


def make_posts(n: int, tokens: int, image_size: int, generator: torch.Generator) -> list[PreparedPost]:
    posts = []
    for _ in range(n):
        ids = [CLS, *torch.randint(1000, 30000, (tokens - 2,), generator=generator).tolist(), SEP]
        posts.append(PreparedPost(ids, torch.randn(3, image_size, image_size, generator=generator)))
    return posts


def measure(
    model: FusionClassifier, batch_size: int, repeats: int, tokens: int, device: torch.device
) -> dict[str, float]:
    generator = torch.Generator().manual_seed(batch_size)
    batch = collate(make_posts(batch_size, tokens, model.config.image_size, generator), pad_id=0).to(device)
    cuda = device.type == "cuda"
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        model(batch)  # warm-up: allocator, kernels, oneDNN primitives
        if cuda:
            torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            model(batch)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
    total = sum(times)
    return {
        "batch_size": batch_size,
        "repeats": repeats,
        "seconds_per_batch_mean": total / repeats,
        "seconds_per_batch_min": min(times),
        "posts_per_s": batch_size * repeats / total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per batch size")
    parser.add_argument("--tokens", type=int, default=40, help="tokens per text, [CLS]/[SEP] included")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = ModelConfig.base()
    model = FusionClassifier(config, pretrained=False).eval().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    counts = model.parameter_counts()
    print(
        f"base architecture: {config.image_encoder} ({model.image_dim}-d) + {config.text_encoder} "
        f"({model.text_dim}-d) -> head {config.hidden_dim} -> {len(config.labels)} labels"
    )
    for part, count in counts.items():
        print(f"  parameters {part:<12} {count:>12,}")
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}); "
        f"{args.tokens} tokens + one {config.image_size}px image per post"
    )
    results = []
    for batch_size in args.batch_sizes:
        row = measure(model, batch_size, args.repeats, args.tokens, device)
        results.append(row)
        print(
            f"  batch {batch_size:>3}: {row['posts_per_s']:8.2f} posts/s "
            f"({row['seconds_per_batch_mean'] * 1000:.0f} ms per batch, mean of {args.repeats})"
        )
    report = {
        "model": "base (random init)",
        "config": config.to_dict(),
        "image_dim": model.image_dim,
        "text_dim": model.text_dim,
        "parameters": counts,
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_1m": os.getloadavg()[0],
        "tokens_per_post": args.tokens,
        "throughput": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
