"""Bench scenario (h): image preparation throughput, one prep worker process against all of them.

    python scripts/bench_prep.py                    # 1 worker vs usable cores - 0, on realistic photos
    python scripts/bench_prep.py --workers 1 2 4 --rounds 5

    >>> from scripts.bench_prep import realistic_images, prep_throughput
    >>> images = realistic_images()                 # ~36 encoded photos, in memory
    >>> prep_throughput(images, workers=2, rounds=3)["images_per_s"]

The inputs are the bench's real photographs (scripts/bench_images.py: the sample photos the pinned
scikit-image wheel ships in `skimage/data`, read as files, never through `skimage.data`, which may
download), at 500 x 500 and 1200 x 675 as JPEG, PNG and WebP: what a platform's CDN serves.

What is timed is exactly the consumer's path: `PrepPool.submit` of every image with the model's
`DecodeLimits` (224), until the last (3, 224, 224) uint8 array is back on the caller's side; the pool is
started and warmed (one pass) before the clock starts. `inline` is the same decode on the calling thread
(`MODSTREAM_PREP__WORKERS=0`). Target (issue #10): 2 workers >= 1.6x one worker on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer.prep_pool import PrepPool
from model.images import DecodeLimits, ImageDecodeError, decode_image_uint8
from scripts.bench_images import VARIANTS, bench_image

LIMITS = DecodeLimits(size=224)


def realistic_images() -> list[tuple[str, bytes]]:
    """(name, encoded bytes) of every distinct bench image: the real photographs of scripts/bench_images.py
    (skimage's sample photos as JPEG/PNG/WebP at 500x500 and 1200x675), the same bytes the image host
    serves to the other scenarios."""
    return [(f"image-{i}", bench_image(i)) for i in range(VARIANTS)]


def _one_pass(pool: PrepPool, images: list[tuple[str, bytes]]) -> int:
    answers: queue.SimpleQueue[object] = queue.SimpleQueue()
    for _, data in images:
        pool.submit(data, LIMITS, answers.put)
    failed = 0
    for _ in images:
        if isinstance(answers.get(timeout=120), ImageDecodeError):
            failed += 1
    return failed


def prep_throughput(images: list[tuple[str, bytes]], *, workers: int, rounds: int = 3) -> dict[str, Any]:
    """Images per second through a pool of `workers` processes (0 = inline on this thread)."""
    n = len(images) * rounds
    if workers == 0:
        decode_image_uint8(images[0][1], size=LIMITS.size)
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(rounds):
            for _, data in images:
                decode_image_uint8(data, size=LIMITS.size)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return _run(0, n, elapsed, cpu, failed=0)
    pool = PrepPool(workers, headroom_bytes=1024 * 1024 * 1024, task_timeout_s=30.0)
    pool.start()
    try:
        _one_pass(pool, images)  # warm-up: every worker started and has decoded
        started, cpu = time.perf_counter(), time.process_time()
        failed = sum(_one_pass(pool, images) for _ in range(rounds))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        pool.close()
    return _run(workers, n, elapsed, cpu, failed=failed)


def _run(workers: int, n: int, elapsed: float, cpu: float, *, failed: int) -> dict[str, Any]:
    """`caller_cpu_ms_per_image`: CPU this process spent per image (all of the decode when inline; only
    the hand-off with a pool: what the consumer's own cores pay)."""
    return {
        "workers": workers,
        "images": n,
        "seconds": elapsed,
        "images_per_s": n / elapsed,
        "caller_cpu_ms_per_image": 1000 * cpu / n,
        "failed": failed,
    }


def scenario_h(workers: list[int] | None = None, rounds: int = 3) -> dict[str, Any]:
    """The bench's scenario (h): throughput per worker count, and the speed-up of the most over one."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    counts = workers or sorted({0, 1, usable})
    images = realistic_images()
    runs = [prep_throughput(images, workers=count, rounds=rounds) for count in counts]
    by_count = {run["workers"]: run for run in runs}
    pooled = [count for count in counts if count >= 1]
    speedup = None
    if 1 in by_count and len(pooled) > 1:
        speedup = by_count[max(pooled)]["images_per_s"] / by_count[1]["images_per_s"]
    return {"usable_cores": usable, "distinct_images": len(images), "runs": runs, "speedup_max_vs_1": speedup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workers", type=int, nargs="*", help="worker counts (0 = inline); default 0, 1, all"
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images per measurement")
    args = parser.parse_args()
    report = scenario_h(args.workers, rounds=args.rounds)
    print(f"(h) image preparation: {report['distinct_images']} photos (JPEG/PNG/WebP, 500x500 and 1200x675)")
    print(f"    usable cores: {report['usable_cores']}")
    for run in report["runs"]:
        label = "inline" if run["workers"] == 0 else f"{run['workers']} worker(s)"
        print(
            f"    {label:>12}: {run['images_per_s']:7.1f} images/s "
            f"({run['images']} images in {run['seconds']:.2f} s, {run['failed']} failed; "
            f"caller CPU {run['caller_cpu_ms_per_image']:.2f} ms/image)"
        )
    if report["speedup_max_vs_1"] is not None:
        print(
            f"    speed-up, most workers vs 1: {report['speedup_max_vs_1']:.2f}x "
            "(target >= 1.6x with 2 on 2 cores)"
        )


if __name__ == "__main__":
    main()
